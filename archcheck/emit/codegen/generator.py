"""The generator: the block classes, then the model class, in one module."""

from __future__ import annotations

from ...engine.result import CheckResult
from .blocks import Blocks
from .forward import Forward
from .layout import ClassDef, Init, Module, direct
from .safety import CodegenError, comment, identifier, shape
from .text import IND


class Generator:
    """Builds the module source for one ok CheckResult (``source()``; the caller audits it)."""

    def __init__(self, res: CheckResult) -> None:
        if not res.ok:
            raise CodegenError("the spec has errors: fix them before generating code")
        self.res = res
        self.module = Module(res)

    @property
    def model_class(self) -> str:
        """The model class's name: the spec's name unless that is a name the code uses."""
        return self.module.names.model_class

    @property
    def globals(self) -> set[str]:
        """Every global the code refers to: imports, builtins, classes (for the audit)."""
        return self.module.names.globals

    @property
    def module_names(self) -> frozenset[str]:
        """The layer names written as string literals (``add_module``, ``getattr``), for the audit."""
        return frozenset(self.module.module_names)

    def source(self) -> str:
        Blocks(self.module).write()
        return self.module.source(self._model_class())

    def _model_class(self) -> ClassDef:
        res, names = self.res, self.module.names
        name = names.model_class
        ins = ", ".join(shape(t.shape) for t in res.inputs.values())
        outs = ", ".join(shape(t.shape) for t in res.outputs.values() if t is not None)
        comment(f"{ins} -> {outs}")
        lines = [f"class {name}(nn.Module):", f'{IND}"""{names.model_name}: {ins} -> {outs}."""', ""]
        lines.append(f"{IND}def __init__(self):")
        lines.append(f"{IND * 2}super().__init__()")
        lines += Init(self.module, direct, {}, "").lines(res.root)
        lines.append("")
        pyin = names.py_names([identifier(i) for i in res.inputs])
        lines.append(f"{IND}def forward(self, {', '.join(pyin[i] for i in res.inputs)}):")
        training = res.training_only_outputs
        lines += Forward(self.module, res.root, list(res.inputs), list(res.outputs), True, training).lines()
        return ClassDef(name, lines)
