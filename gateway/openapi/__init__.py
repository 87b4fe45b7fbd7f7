"""Request validation against an OpenAPI 3.0 file, compiled at load into plain Python checks.

    loader     read the file, resolve references, list operations     (Spec, Operation, SpecError)
    formats    string formats and ECMA-262 patterns                    (FORMATS, compile_pattern)
    schema     schema -> ``validate(value, path)`` closure             (Compiler, Options, ValidationProblem)
    operation  one operation's header/query/path/body checks           (CompiledOperation)
    table      all operations, and matching a request to one           (compile_spec, load_compiled)

The shipped file is the Berlin Group NextGenPSD2 1.3.11 definition (CC BY 4.0, see NOTICE.md).
"""

from gateway.openapi.loader import SHIPPED_SPEC, Operation, Parameter, Spec, SpecError
from gateway.openapi.operation import CompiledOperation, compile_operation, parse_json
from gateway.openapi.schema import Compiler, Options, ValidationProblem, Validator
from gateway.openapi.table import CompiledSpec, OperationTable, compile_spec, load_compiled

__all__ = [
    "SHIPPED_SPEC",
    "CompiledOperation",
    "CompiledSpec",
    "Compiler",
    "Operation",
    "OperationTable",
    "Options",
    "Parameter",
    "Spec",
    "SpecError",
    "ValidationProblem",
    "Validator",
    "compile_operation",
    "compile_spec",
    "load_compiled",
    "parse_json",
]
