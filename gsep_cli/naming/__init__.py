"""Output names: the ``--name-template``, safe path components, byte limits, temporary
names, and collisions refused before any request.

Rules and where they come from:

* A template is a relative path of ``/``-separated segments; each segment mixes literal
  text and fields (:data:`TEMPLATE_FIELDS`). ``{track}``, ``{stem}``, ``{ext}`` come from
  the first versions of gsep; ``{trackext}`` (the input's extension) is named after
  demucs' ``--filename`` fields, which users already know; ``{dir}`` is the input's folder.
* Every value and every rendered segment passes :func:`safe_component`, so no name can
  leave the output folder, hold a control character or be a Windows device name.
* Limits are in bytes of the file-system encoding (``os.fsencode``, UTF-8 on every
  supported system), the unit the kernel counts: a file name at most POSIX ``NAME_MAX``
  and a whole path under ``PATH_MAX``, both asked of the file system with
  ``os.pathconf`` (255 and 4096 where it cannot answer, e.g. on Windows, where 255
  UTF-8 bytes is never more than the 255 UTF-16 units NTFS allows).
* Only what ``{track}`` contributed to a segment is ever shortened; ``{stem}``, ``{ext}``
  and the template's own text are never cut. A segment that cannot fit is refused.
* Temporary download names have a fixed length (:data:`TEMP_NAME_BYTES`), whatever the
  final name's length.
* Two outputs are one file when their resolved paths are equal or, where the output
  folder's file system ignores case (:func:`case_insensitive`, probed, not assumed from
  the platform), equal once NFC-normalised and case-folded. A batch whose outputs meet is
  refused as a whole before any request (:func:`plan_outputs`).
"""

from __future__ import annotations

from .collisions import (
    check_output_paths,
    check_planned_outputs,
    output_paths,
    path_key,
    plan_outputs,
    refuse_collisions,
)
from .components import (
    NAME_MAX_FALLBACK,
    PATH_MAX_FALLBACK,
    TEMP_NAME_BYTES,
    case_insensitive,
    leftover_temps,
    name_bytes,
    name_max,
    path_max,
    safe_component,
    temp_path,
)
from .templates import (
    DEFAULT_TEMPLATE,
    MIN_TRACK_BYTES,
    TEMPLATE_FIELDS,
    TRACK_HASH_HEX,
    InputFields,
    check_template,
    output_path,
    template_values,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "MIN_TRACK_BYTES",
    "NAME_MAX_FALLBACK",
    "PATH_MAX_FALLBACK",
    "TEMPLATE_FIELDS",
    "TEMP_NAME_BYTES",
    "TRACK_HASH_HEX",
    "InputFields",
    "case_insensitive",
    "check_output_paths",
    "check_planned_outputs",
    "check_template",
    "leftover_temps",
    "name_bytes",
    "name_max",
    "output_path",
    "output_paths",
    "path_key",
    "path_max",
    "plan_outputs",
    "refuse_collisions",
    "safe_component",
    "temp_path",
    "template_values",
]
