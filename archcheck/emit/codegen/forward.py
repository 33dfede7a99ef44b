"""The body of a ``forward``: each layer's call in order, on as few locals as read well, with the shape after
each step as a comment."""

from __future__ import annotations

from ...engine.result import Node
from ...engine.scope import pick, split_ref
from ...layers.base import Tensor
from .layout import Module
from .names import attr, is_op, local_name
from .safety import identifier, shape
from .text import IND, stmt


class Forward:
    """One ``forward`` body: ``children`` run on ``inputs``, returning ``outputs``.

    ``shapes``: write the shape after each step; ``training``: the outputs returned only while
    ``self.training`` (the layers only they need run under ``if self.training:``).
    """

    def __init__(
        self,
        module: Module,
        children: list[Node],
        inputs: list[str],
        outputs: list[str],
        shapes: bool,
        training: list[str] | None = None,
    ) -> None:
        self.module = module
        self.children = children
        self.inputs = inputs
        self.outputs = outputs
        self.shapes = shapes
        self.training = training
        self.items: set[str] = set()  # locals named after a tuple's items: not reused for a later output
        self.var: dict[str, str] = {}  # a name in the scope -> the local (or subscript) holding its value
        self.holder: dict[str, str] = {}  # a local -> the name whose value it holds
        self.uses: dict[str, int] = {}  # a name -> how many times it is read
        self.last_use: dict[str, int] = {}  # a name -> the index of the last child that reads it

    def busy(self, v: str, i: int) -> bool:
        """Whether the local ``v`` holds a value that a child after the ``i``-th still reads."""
        n = self.holder.get(v)
        return n is not None and self.last_use.get(n, -1) > i

    def lines(self) -> list[str]:
        children, outputs, training = self.children, self.outputs, self.training
        names = self.module.names
        ind = IND * 2
        # Layers whose tuple items are used (qkv.0, lstm.1.0) are unpacked: `a, (h, _) = self.lstm(x)`.
        # Their plain name then means their first item (a module's default output).
        unpacked = {r[0] for c in children for r in map(split_ref, c.inputs) if r and r[1]}
        unpacked |= {r[0] for r in map(split_ref, outputs) if r and r[1]}

        def canon(ref: str) -> str:
            return f"{ref}.0" if ref in unpacked else ref

        if len(outputs) == 1 and (sr := split_ref(outputs[0])) is not None:
            # A block whose one output is several (a Split last): it returns them all, as its instance is used.
            t = next((c.output for c in children if c.name == sr[0]), None)
            t = pick(t, *sr, whole=True)[0] if t is not None else None
            if t is not None and t.indexed and t.parts is not None:
                outputs = [f"{outputs[0]}.{j}" for j in range(len(t.parts))]
                unpacked.add(sr[0])
        outputs = [canon(o) for o in outputs]
        ins_of = {c.path: [canon(n) for n in c.inputs] for c in children}
        last_use, uses = self.last_use, self.uses
        end = len(children)
        for i, c in enumerate(children):
            for n in ins_of[c.path]:
                last_use[n] = i
                uses[n] = uses.get(n, 0) + 1
        for n in outputs:
            last_use[n] = end
            uses[n] = uses.get(n, 0) + 1
        for n in list(last_use):  # a tuple held whole (lstm.1 = (h_n, c_n)) lives as long as its items' uses
            parts = n.split(".")
            for k in range(1, len(parts)):
                p = ".".join(parts[:k])
                if p in last_use:
                    last_use[p] = max(last_use[p], last_use[n])
        consumers: dict[str, list[Node]] = {}
        for c in children:
            for n in ins_of[c.path]:
                consumers.setdefault(n, []).append(c)
        pyin = names.py_names([identifier(n) for n in self.inputs])
        var = self.var
        var.update({n: pyin[n] for n in self.inputs})
        x_, out_ = names.py("x"), names.py("out")
        self.holder.update({v: n for n, v in var.items()})
        busy = self.busy

        lines: list[str] = []
        guarded = False  # the last statement is inside `if self.training:`
        for i, c in enumerate(children):
            args = [var[n] for n in ins_of[c.path]]
            ins = ins_of[c.path]
            if c.name in unpacked and c.output is not None:
                lines += self._unpack(c, args, i, ind)
                continue
            out_var: str | None = None
            if len(ins) == 1 and uses.get(ins[0], 0) == 1 and var[ins[0]] not in self.items:
                out_var = var[ins[0]]
            elif len(ins) > 1:
                v0 = var[ins[0]]
                if v0 in (x_, out_) and not busy(v0, i):
                    out_var = v0
                elif not busy(x_, i):
                    out_var = x_
            else:
                nxt = consumers.get(c.name, [])
                if uses.get(c.name, 0) == 1 and len(nxt) == 1 and len(nxt[0].inputs) == 1 and not busy(out_, i):
                    out_var = out_
            if out_var is None or busy(out_var, i):
                out_var = names.py(local_name(c.name))
                k = 1
                while busy(out_var, i):
                    k += 1
                    out_var = names.py(f"{local_name(c.name)}_{k}")
            call = self._call(c, args, whole=False)
            note = shape(c.output.shape) if self.shapes and c.output is not None else None
            if note is not None and c.expect is not None:  # the spec's expect: (checked by validate)
                note += " (expected)" if c.expect == note else f" (expected {c.expect})"
            if c.training_only and training:  # feeds only training_only outputs (an aux head)
                if not guarded:
                    lines.append(f"{ind}if self.training:")
                lines += stmt(out_var, call, ind + IND, note)
            else:
                lines += stmt(out_var, call, ind, note)
            guarded = c.training_only and bool(training)
            var[c.name] = out_var
            self.holder[out_var] = c.name
        rets = [var[o] for o in outputs]
        if training:
            lines.append(f"{ind}if self.training:")
            lines.append(f"{ind}{IND}return {', '.join(rets)}")
            rets = [var[o] for o in outputs if o not in training]
        lines.append(f"{ind}return {', '.join(rets)}")
        return lines

    def _call(self, c: Node, args: list[str], whole: bool) -> str:
        """The forward expression of ``c``: its module's call (the earlier module's for ``use:``), or its op.

        ``whole``: the whole tuple a module returns (its items are used), not its first item.
        """
        owner = c.target if c.kind == "use" and c.target is not None else c
        if c.layer is not None and c.kind in ("layer", "use"):
            ref = None if is_op(c.layer) else attr("self", owner.name)
            call = c.layer.emit_tuple(ref, args) if whole else c.layer.emit_call(ref, args)
            self.module.uses_torch |= "torch." in call
            return call
        return f"{attr('self', owner.name)}({', '.join(args)})"

    def _unpack(self, c: Node, args: list[str], i: int, ind: str) -> list[str]:
        """``qkv_0, _, qkv_2 = x.split(8, dim=-1)``: a tuple whose items later layers use, one variable each."""
        assert c.output is not None
        names, var, uses = self.module.names, self.var, self.uses
        fresh: set[str] = set()
        shown: list[str] = []

        def target(t: Tensor, ref: str, top: bool) -> str:
            if t.parts is None or ref in uses or not any(u.startswith(ref + ".") for u in uses):
                if ref not in uses:
                    return "_"
                base = local_name(ref.replace(".", "_"))
                v, k = names.py(base), 1
                while self.busy(v, i) or v in fresh:
                    k += 1
                    v = names.py(f"{base}_{k}")
                fresh.add(v)
                self.items.add(v)  # named after the item: not reused for a later layer's output
                var[ref], self.holder[v] = v, ref
                shown.append(shape(t.shape))
                for u in uses:  # items of a tuple held whole: subscripts of its variable
                    if u.startswith(ref + "."):
                        var[u] = v + "".join(f"[{int(j)}]" for j in u[len(ref) + 1 :].split("."))
                        self.items.add(var[u])
                return v
            items = [target(p, f"{ref}.{j}", False) for j, p in enumerate(t.parts)]
            inner = ", ".join(items) + ("," if len(items) == 1 else "")
            return inner if top and len(items) > 1 else f"({inner})"

        lhs = target(c.output, c.name, True)
        call = self._call(c, args, whole=True)
        note = ", ".join(shown) if self.shapes else None
        return stmt(lhs, call, ind, note)
