"""Long explanations of the diagnostic codes, for `archcheck explain CODE` and docs/diagnostics.md.

One entry per code of ``diagnostics.CODES``, under fixed headings (as ruff's
rule docs and rustc's ``--explain``): what it means, why it matters, an
example spec that triggers it and the same spec fixed. The tests run every
example through ``check`` (unless ``checked=False``): the example must yield
its code and the fix must not, so the texts cannot drift from the checker.

``python -m archcheck.diagnostics.explain --markdown > docs/diagnostics.md`` writes the page.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass

from .codes import BY_NAME, CODES, Code, did_you_mean


@dataclass(frozen=True)
class Explanation:
    what: str  # What it means
    why: str  # Why it matters
    example: str  # a spec (YAML) that triggers the code
    fix: str  # the same spec, fixed
    checked: bool = True  # the tests run example and fix through `check`


_CNN = "input: {shape: [N, 3, 32, 32]}\nlayers:\n"
_VEC = "input: {shape: [N, 64]}\nlayers:\n"
_SEQ = "input: {shape: [N, L, 64]}\nlayers:\n"

EXPLANATIONS: dict[str, Explanation] = {
    # ------------------------------------------------------------ 0xx: reading the file
    "AC001": Explanation(
        what="The file is not well-formed YAML (or, for a `.json` file, not strict JSON): a bracket is not "
        "closed, indentation is inconsistent, a tab is used for indentation, a `.json` file has a trailing "
        "comma or a comment, or the file holds several YAML documents.",
        why="archcheck cannot tell what the spec says, so it checks nothing. The diagnostic points at the "
        "place where the parser gave up, which is often just after the real mistake.",
        example=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3\n  - ReLU\n",
        fix=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3}\n  - ReLU\n",
    ),
    "AC002": Explanation(
        what="The file cannot be read as UTF-8 text: it holds bytes that are not UTF-8 (a file saved as "
        "Latin-1 or UTF-16), NUL bytes (a binary file), control characters YAML does not allow, or it "
        "cannot be opened at all.",
        why="A spec is text. A stray encoding usually means the file was saved by an editor with another "
        "default, or the wrong file was passed.",
        example="# saved as Latin-1: the byte 0xe9 of 'é' is not UTF-8\nname: Réseau\n" + _CNN + "  - ReLU\n",
        fix="# saved as UTF-8, and the class name is an ASCII identifier\nname: Reseau\n" + _CNN + "  - ReLU\n",
        checked=False,
    ),
    "AC003": Explanation(
        what="A value carries a YAML tag outside plain data: `!!python/object/apply:...`, `!!binary`, "
        "`!!set`, `!!timestamp` or a custom `!tag`.",
        why="Tags like `!!python/object/apply:os.system` make unsafe YAML loaders run code. archcheck never "
        "constructs them (it reads plain data only: null, booleans, numbers, strings, lists and mappings), "
        "and says so instead of silently dropping the tag.",
        example=_CNN + "  - {type: Conv2d, out_channels: !!python/object/apply:os.cpu_count [], kernel_size: 3}\n",
        fix=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3}\n",
    ),
    "AC004": Explanation(
        what="A mapping has the same key twice, such as two `kernel_size` entries in one layer.",
        why="YAML and JSON loaders usually keep the last value without a word, so the spec silently says "
        "something other than what one of the lines says. archcheck keeps the first and reports the second.",
        example=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3, kernel_size: 5}\n",
        fix=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 5}\n",
    ),
    "AC005": Explanation(
        what="The file or what it expands to exceeds archcheck's limits: the file is larger than 8 MiB, it "
        "nests deeper than 100 levels, its YAML aliases expand to more than 200,000 values, a single "
        "string is longer than 65,536 characters, reading it takes longer than 10 seconds, or `repeat` "
        "and blocks expand the network to more than 100,000 layers.",
        why='These limits keep a hostile or generated file (a YAML "billion laughs" alias bomb, a deeply '
        "nested list) from exhausting memory or time; no real network spec comes near them.",
        example="a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
        "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
        fix="# repeated structure is written once, with repeat or a block\n"
        + _CNN
        + "  - {type: Conv2d, out_channels: 16, kernel_size: 3, padding: 1}\n"
        "  - {type: Conv2d, in_channels: 16, out_channels: 16, kernel_size: 3, padding: 1, repeat: 4}\n",
    ),
    "AC006": Explanation(
        what="The file is empty, or holds only comments.",
        why="There is nothing to check; usually the wrong file was passed, or a new spec was not written yet.",
        example="# TODO: the model\n",
        fix=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3}\n",
    ),
    "AC007": Explanation(
        what="A plain (unquoted) number that YAML 1.1, which PyYAML and most YAML libraries follow, reads "
        "otherwise than YAML 1.2 and JSON: a leading zero (`010`, octal 8 in YAML 1.1, 10 in YAML 1.2), "
        "colons (`1:30`, 90 in base 60), a `0b` prefix (`0b101`) or underscores (`1_000`). YAML 1.2's own "
        "forms `0x1F` and `0o17` are read as hexadecimal and octal.",
        why="`out_features: 010` would silently become 8 (and be written so into the generated code), and "
        "`kernel_size: 1:3` 63: the reader and the file disagree. archcheck does not guess which was meant.",
        example=_CNN + "  - {type: Conv2d, out_channels: 016, kernel_size: 3}\n",
        fix=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3}\n",
    ),
    "AC008": Explanation(
        what="`yes`, `no`, `on`, `off` unquoted (in any capitalisation: `Yes`, `OFF`): YAML 1.1 reads "
        "them as booleans, YAML 1.2 and JSON as strings.",
        why="The same file would mean `bias: true` to one tool and `bias: 'yes'` to another. Write the "
        "boolean as `true`/`false`, or quote the word if text is meant.",
        example=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3, bias: no}\n",
        fix=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3, bias: false}\n",
    ),
    # ------------------------------------------------------------ 1xx: the schema
    "AC101": Explanation(
        what="A field that the layer type (or the spec's top level) does not have. Fields are the torch "
        "constructor's own argument names.",
        why="A misspelt field would otherwise be ignored and its default used: `kernel: 5` on a Conv2d is "
        "not a 5x5 convolution. archcheck rejects unknown fields and suggests the closest real one.",
        example=_CNN + "  - {type: Conv2d, out_channels: 16, kernel: 5}\n",
        fix=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 5}\n",
    ),
    "AC102": Explanation(
        what="A layer `type` that archcheck does not know: not a supported `torch.nn` class name, one of "
        "archcheck's tensor operations (Add, Concat, Reshape, ...), Sequential, or a block the spec defines.",
        why="Type names are case-sensitive, as in torch (`Conv2d`, not `Conv2D`). `archcheck types` lists "
        "the known ones; the hint suggests the closest.",
        example=_CNN + "  - {type: Conv2D, out_channels: 16, kernel_size: 3}\n",
        fix=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3}\n",
    ),
    "AC103": Explanation(
        what="A value of the wrong type: a quoted number where an int belongs, a float for a size, a list "
        "where a single value is expected, or a mapping key that is not a name.",
        why='The schema is strict, as torch is at run time: `"3"` is a string and `3.0` is not an int. '
        "Guessing would hide typos. Note that YAML reads `on`, `off`, `yes` and `no` as booleans.",
        example=_CNN + '  - {type: Conv2d, out_channels: 16, kernel_size: "3"}\n',
        fix=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3}\n",
    ),
    "AC104": Explanation(
        what="A value outside its allowed range or set: a probability above 1, a size below 1, a string "
        "that is not one of the allowed choices, a number that is not finite (`.nan`, `.inf`, `1e400`) "
        "or an integer beyond torch's int64, or `inputs`/`outputs` naming something that is not there.",
        why="torch would raise when the module is built, or worse, build something meaningless. archcheck "
        "says which bound was crossed.",
        example=_VEC + "  - {type: Dropout, p: 1.5}\n",
        fix=_VEC + "  - {type: Dropout, p: 0.5}\n",
    ),
    "AC105": Explanation(
        what="A required field is absent: a layer without `type`, a Conv2d without `out_channels`, a spec "
        "without `input` or `layers`.",
        why="Sizes that follow from the input (`in_channels`, `in_features`, ...) may be left out, but the "
        "ones that define the layer cannot be guessed.",
        example=_CNN + "  - {type: Conv2d, kernel_size: 3}\n",
        fix=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3}\n",
    ),
    "AC106": Explanation(
        what="Two layers share a name in one scope (the top level, a Sequential or a block), a layer is "
        "named like a model input, or a block lists one input name twice in its `inputs`.",
        why="A name is the attribute of the module in the generated `nn.Module` and what `inputs:` refers "
        "to; two layers with one name would make both ambiguous.",
        example=_CNN + "  - {name: conv, type: Conv2d, out_channels: 16, kernel_size: 3}\n"
        "  - {name: conv, type: Conv2d, out_channels: 32, kernel_size: 3}\n",
        fix=_CNN + "  - {name: conv1, type: Conv2d, out_channels: 16, kernel_size: 3}\n"
        "  - {name: conv2, type: Conv2d, out_channels: 32, kernel_size: 3}\n",
    ),
    "AC107": Explanation(
        what="A name that cannot be used where it stands. The spec's name, block names, block params and "
        "inputs, and model input names must be Python identifiers (ASCII, not a keyword, not starting with "
        "`_`, not shadowing an `nn.Module` attribute such as `forward`, `parameters`, `training`). A layer "
        "name may be any text torch's `add_module` takes (torchvision's RegNet has `block1-0`), except an "
        "empty one, one with a `.`, a number (the name of an unnamed child of a Sequential), one with a "
        "control or invisible character or with spaces around it; an identifier-like layer name follows "
        "the identifier rules.",
        why="Names become class names, parameters and attributes of the generated module, and layer names "
        "become the parts of its `state_dict` keys; torch refuses a submodule name with a dot, which "
        "separates those parts.",
        example=_CNN + "  - {name: conv.1, type: Conv2d, out_channels: 16, kernel_size: 3}\n",
        fix=_CNN + "  - {name: conv-1, type: Conv2d, out_channels: 16, kernel_size: 3}\n",
    ),
    "AC108": Explanation(
        what="A combination of options that torch rejects when it builds the layer, although each value is "
        "valid alone: `padding: same` with a stride above 1, both `input` and `inputs`, an Embedding "
        "`padding_idx` outside the vocabulary, `align_corners` with a nearest-neighbour Upsample.",
        why="torch raises these in the constructor; archcheck reports them with the rule, before anything runs.",
        example=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: same}\n",
        fix=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}\n",
    ),
    "AC109": Explanation(
        what="A `$` expression that cannot be evaluated: it names a parameter that does not exist, divides "
        "by zero, uses something outside its grammar (numbers, params, `+ - * / // % ** ( )`, `min`, `max`, "
        "`round`, `ceil`, `floor`, `int`, `abs` and `a if cond else b` with a comparison as condition; no "
        "attributes, no other calls), is too long, produces an absurdly large or non-finite value, or raises a "
        "negative number to a fractional power.",
        why="Expressions are evaluated by a small safe evaluator, never Python's `eval`; anything outside "
        "its grammar is an error rather than a guess.",
        example="params: {width: 16}\n" + _CNN + '  - {type: Conv2d, out_channels: "$widht * 2", kernel_size: 3}\n',
        fix="params: {width: 16}\n" + _CNN + '  - {type: Conv2d, out_channels: "$width * 2", kernel_size: 3}\n',
    ),
    "AC115": Explanation(
        what="A `$` expression gives a number with a fraction (`22.5`) for a field that torch takes as an int "
        "(`out_channels`, `kernel_size`, `repeat`, ...). A whole float (`$c / 2` giving `32.0`) is taken as "
        "the int `32`.",
        why="`/` is true division and a width multiplier (`$c * 0.75`) rarely gives a whole number; torch "
        "would refuse `nn.Conv2d(3, 22.5, 3)`. Which way to round is the model's choice (torchvision's "
        "`_make_divisible`, `round`, `int`), so archcheck asks for it instead of guessing.",
        example="params: {width_mult: 0.75}\n"
        + _CNN
        + "  - {type: Conv2d, out_channels: $30 * width_mult, kernel_size: 3}\n",
        fix="params: {width_mult: 0.75}\n"
        + _CNN
        + "  - {type: Conv2d, out_channels: $round(30 * width_mult), kernel_size: 3}\n",
    ),
    "AC116": Explanation(
        what="A `repeat` mapping whose copies cannot be named: its `name` template lacks `{i}` (the copy's "
        "number) or has other braces, or it gives `start` without a `name` template.",
        why='`repeat: {count: 6, name: "denselayer{i}", start: 1}` names the copies denselayer1 ... '
        "denselayer6, as torchvision's DenseNet does; without a template the copies are an nn.Sequential's "
        "0, 1, ..., which cannot start elsewhere. Only `{i}` is replaced: the template is never formatted "
        "as Python would.",
        example=_VEC + '  - {type: Linear, out_features: 64, repeat: {count: 3, name: "fc{n}", start: 1}}\n',
        fix=_VEC + '  - {type: Linear, out_features: 64, repeat: {count: 3, name: "fc{i}", start: 1}}\n',
    ),
    "AC117": Explanation(
        what="Outputs marked `training_only: true` leave the model no output in eval mode: every output is "
        "marked, or the single `output:` is.",
        why="A training-only output (GoogLeNet's aux heads) is returned, and the layers only it needs are run, "
        "only while `self.training`; in eval mode forward returns the other outputs. Without any, "
        "`model.eval()` would make forward return nothing.",
        example=_VEC + "  - {name: logits, type: Linear, out_features: 10}\n"
        "  - {name: aux, type: Linear, out_features: 10, inputs: [x]}\n"
        "outputs: [{name: logits, training_only: true}, {name: aux, training_only: true}]\n",
        fix=_VEC + "  - {name: logits, type: Linear, out_features: 10}\n"
        "  - {name: aux, type: Linear, out_features: 10, inputs: [x]}\n"
        "outputs: [logits, {name: aux, training_only: true}]\n",
    ),
    "AC120": Explanation(
        what="A layer with several outputs is used as one tensor: a Split or Chunk (each part is an output), "
        "or a block with `outputs: [a, b]`, is named in `inputs` (or followed by a layer that takes the "
        "previous output) without an index. Take one of its outputs as `name.0`, `name.1`, ... A module "
        "that returns a tuple (LSTM, GRU, RNN, MultiheadAttention, a pool with `return_indices`) is not "
        "this case: its name alone means its first output, as before.",
        why="torch.split returns a tuple: a layer called on it fails (`conv2d() received an invalid "
        "combination of arguments - got (tuple, ...)`), or worse, a merge adds tuples. archcheck asks "
        "which part is meant. A module name never holds a '.', so `qkv.1` is always the second output of "
        "`qkv`; nested tuples read `lstm.1.0` (LSTM's h_n).",
        example=_SEQ + "  - {name: qkv, type: Split, split_size_or_sections: 32, dim: -1}\n"
        "  - {type: Linear, out_features: 10}\n",
        fix=_SEQ + "  - {name: qkv, type: Split, split_size_or_sections: 32, dim: -1}\n"
        "  - {type: Linear, out_features: 10, inputs: [qkv.0]}\n",
    ),
    "AC121": Explanation(
        what="An input (or output) names an output index that does not exist: `qkv.3` of a Split into 3 "
        "parts (indices 0 to 2), `conv1.0` of a layer that gives one tensor, or something after the '.' "
        "that is not an index (`conv1.weight`).",
        why="The index picks an item of the tuple the layer returns, counted from 0 as in Python. An index "
        "past the end is an IndexError at run time in torch.",
        example=_SEQ + "  - {name: halves, type: Chunk, chunks: 2, dim: -1}\n"
        "  - {type: Linear, out_features: 10, inputs: [halves.2]}\n",
        fix=_SEQ + "  - {name: halves, type: Chunk, chunks: 2, dim: -1}\n"
        "  - {type: Linear, out_features: 10, inputs: [halves.1]}\n",
    ),
    "AC122": Explanation(
        what="A `use:` entry (an earlier module called again) that cannot be: it names no earlier layer, "
        "Sequential or block instance of the same scope (a later one, a misspelt one, or one in another "
        "block), it names a tensor operation (Add, Reshape: nothing to share), it also gives `type`, or it "
        "stands inside a Sequential.",
        why="`{use: tower, inputs: [b]}` emits `self.tower(b)`: the same module, its weights shared and counted "
        "once, as torch's parameters() counts them. That needs the module to exist in the class being "
        "generated, before this call. A module used again keeps the sizes of its first use: if the new input "
        "does not fit them, the layer's own shape diagnostic (AC201, AC202, ...) says so, with a note.",
        example="inputs: {a: {shape: [N, 8]}, b: {shape: [N, 8]}}\nlayers:\n"
        "  - {name: enc, type: Linear, out_features: 4, inputs: [a]}\n"
        "  - {name: enc_b, use: encoder, inputs: [b]}\n"
        "  - {type: Add, inputs: [enc, enc_b]}\n",
        fix="inputs: {a: {shape: [N, 8]}, b: {shape: [N, 8]}}\nlayers:\n"
        "  - {name: enc, type: Linear, out_features: 4, inputs: [a]}\n"
        "  - {name: enc_b, use: enc, inputs: [b]}\n"
        "  - {type: Add, inputs: [enc, enc_b]}\n",
    ),
    "AC123": Explanation(
        what="A `tie:` that names something that cannot be tied: a module path that does not exist in the "
        "layer's scope, a parameter the module does not have (`bias` of a Linear with `bias: false`), the "
        "layer's own parameter, a parameter that is itself tied, or a layer type whose parameters archcheck "
        "does not know (tie works on Linear, Embedding and Conv layers).",
        why="`tie: {weight: wte.weight}` emits `self.lm_head.weight = self.wte.weight` (GPT-2's tied "
        "embeddings): the two modules hold one Parameter, counted once in the parameters, while the "
        "state_dict lists both keys, as torch does. The path is read from the layer's scope: the model's "
        "layers, or the block it is in.",
        example="input: {shape: [N, L], dtype: long}\nlayers:\n"
        "  - {name: wte, type: Embedding, num_embeddings: 100, embedding_dim: 16}\n"
        "  - {name: lm_head, type: Linear, out_features: 100, bias: false, tie: {weight: wte.weights}}\n",
        fix="input: {shape: [N, L], dtype: long}\nlayers:\n"
        "  - {name: wte, type: Embedding, num_embeddings: 100, embedding_dim: 16}\n"
        "  - {name: lm_head, type: Linear, out_features: 100, bias: false, tie: {weight: wte.weight}}\n",
    ),
    "AC124": Explanation(
        what="A block definition gives both `output` (the one layer whose output the block returns) and "
        "`outputs` (several, returned as a tuple and used as `name.0`, `name.1` at the instance).",
        why="The two say different things about what the block returns; archcheck does not guess which one is meant.",
        example="blocks:\n  Two:\n    output: a\n    outputs: [a, b]\n    layers:\n"
        "      - {name: a, type: ReLU}\n      - {name: b, type: Tanh, inputs: [x]}\n"
        + _VEC
        + "  - {name: two, type: Two}\n  - {type: Add, inputs: [two.0, two.1]}\n",
        fix="blocks:\n  Two:\n    outputs: [a, b]\n    layers:\n"
        "      - {name: a, type: ReLU}\n      - {name: b, type: Tanh, inputs: [x]}\n"
        + _VEC
        + "  - {name: two, type: Two}\n  - {type: Add, inputs: [two.0, two.1]}\n",
    ),
    # ------------------------------------------------------------ 2xx: shapes
    "AC201": Explanation(
        what="The input's channel count (dim 1) differs from the layer's `in_channels` (or `num_features`, "
        "`num_channels`).",
        why="torch fails at the first forward pass with `expected input[4, 3, 32, 32] to have 1 channels`. "
        "archcheck names the layer that produced the input; leaving `in_channels` out has it inferred.",
        example=_CNN + "  - {type: Conv2d, in_channels: 1, out_channels: 16, kernel_size: 3}\n",
        fix=_CNN + "  - {type: Conv2d, in_channels: 3, out_channels: 16, kernel_size: 3}\n",
    ),
    "AC202": Explanation(
        what="The input's last dim differs from a Linear layer's `in_features`.",
        why="This is the classic `mat1 and mat2 shapes cannot be multiplied (4x1568 and 512x10)`: after "
        "Flatten the feature count is channels x height x width, easy to get wrong by hand. archcheck "
        "shows the arithmetic; leaving `in_features` out has it inferred.",
        example="input: {shape: [N, 1, 28, 28]}\nlayers:\n"
        "  - {type: Conv2d, out_channels: 32, kernel_size: 3, padding: 1}\n"
        "  - {type: MaxPool2d, kernel_size: 4}\n"
        "  - Flatten\n"
        "  - {type: Linear, in_features: 512, out_features: 10}\n",
        fix="input: {shape: [N, 1, 28, 28]}\nlayers:\n"
        "  - {type: Conv2d, out_channels: 32, kernel_size: 3, padding: 1}\n"
        "  - {type: MaxPool2d, kernel_size: 4}\n"
        "  - Flatten\n"
        "  - {type: Linear, in_features: 1568, out_features: 10}   # 32 * 7 * 7\n",
    ),
    "AC203": Explanation(
        what="A kernel or pooling window does not fit the (padded) input, so the output would have size 0 or less.",
        why="Each stride-2 step halves the spatial size; a deep stack on a small input runs out of pixels. "
        "torch raises `Output size is too small` at run time.",
        example="input: {shape: [N, 3, 4, 4]}\nlayers:\n  - {type: Conv2d, out_channels: 16, kernel_size: 5}\n",
        fix="input: {shape: [N, 3, 4, 4]}\nlayers:\n  - {type: Conv2d, out_channels: 16, kernel_size: 5, padding: 2}\n",
    ),
    "AC204": Explanation(
        what="The input has a rank (number of dims) that the layer does not accept: a Conv2d on a 3-d "
        "tensor, a BatchNorm1d on a 4-d one.",
        why="Usually a Flatten, Reshape or `unsqueeze` is missing, or the layer's dimensionality (1d/2d/3d) "
        "is the wrong one.",
        example=_CNN + "  - {type: BatchNorm1d}\n",
        fix=_CNN + "  - {type: BatchNorm2d}\n",
    ),
    "AC205": Explanation(
        what="`in_channels` or `out_channels` is not divisible by `groups`.",
        why="A grouped convolution splits the channels into `groups` equal parts; torch's constructor "
        "raises otherwise. For a depthwise convolution use `groups` equal to the input channels and an "
        "`out_channels` that is a multiple of it.",
        example=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3, groups: 3}\n",
        fix=_CNN + "  - {type: Conv2d, out_channels: 12, kernel_size: 3, groups: 3}\n",
    ),
    "AC206": Explanation(
        what="A pooling layer's padding is larger than half its kernel.",
        why="torch refuses it (`pad should be at most half of effective kernel size`): the window would "
        "see only padding.",
        example=_CNN + "  - {type: MaxPool2d, kernel_size: 2, padding: 2}\n",
        fix=_CNN + "  - {type: MaxPool2d, kernel_size: 2, padding: 1}\n",
    ),
    "AC207": Explanation(
        what="A layer needs a fixed size, but its input's size depends on a free dim: a Linear after "
        "Flatten when the height and width are symbols `H` and `W`.",
        why="The network then works for one input size only. Fix the size (a number, or `--dim H=224`), or "
        "make the size independent of it with an adaptive pool before Flatten.",
        example="input: {shape: [N, 3, H, W]}\nlayers:\n"
        "  - {type: Conv2d, out_channels: 16, kernel_size: 3, padding: 1}\n"
        "  - Flatten\n"
        "  - {type: Linear, out_features: 10}\n",
        fix="input: {shape: [N, 3, H, W]}\nlayers:\n"
        "  - {type: Conv2d, out_channels: 16, kernel_size: 3, padding: 1}\n"
        "  - {type: AdaptiveAvgPool2d, output_size: 1}\n"
        "  - Flatten\n"
        "  - {type: Linear, out_features: 10}\n",
    ),
    "AC208": Explanation(
        what="A dim index (`dim`, `start_dim`, `dims`, `dim0`, ...) outside the input's rank.",
        why="torch raises `Dimension out of range`. Negative indices count from the end, as in torch.",
        example=_VEC + "  - {type: Softmax, dim: 2}\n",
        fix=_VEC + "  - {type: Softmax, dim: 1}\n",
    ),
    "AC209": Explanation(
        what="Reflect or circular padding that is not smaller than the input dim it pads.",
        why="Reflection mirrors the input without its edge, so it needs more pixels than the padding; torch "
        "raises at run time when a small input reaches the layer.",
        example="input: {shape: [N, 3, 2, 2]}\nlayers:\n"
        "  - {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 2, padding_mode: reflect}\n",
        fix="input: {shape: [N, 3, 2, 2]}\nlayers:\n"
        "  - {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 2, padding_mode: zeros}\n",
    ),
    "AC210": Explanation(
        what="A transposed convolution's `output_padding` is not smaller than its stride or its dilation.",
        why="torch refuses it: `output_padding` only picks among the output sizes a stride allows.",
        example=_CNN + "  - {type: ConvTranspose2d, out_channels: 16, kernel_size: 3, stride: 2, output_padding: 2}\n",
        fix=_CNN + "  - {type: ConvTranspose2d, out_channels: 16, kernel_size: 3, stride: 2, output_padding: 1}\n",
    ),
    "AC211": Explanation(
        what="A BatchNorm layer sees a single value per channel (batch size 1 and no spatial dims).",
        why="In training mode torch raises `Expected more than 1 value per channel when training`; without "
        "running statistics it fails in eval mode too. This is a warning when only training fails.",
        example="input: {shape: [1, 64]}\nlayers:\n  - {type: BatchNorm1d, track_running_stats: false}\n",
        fix="input: {shape: [8, 64]}\nlayers:\n  - {type: BatchNorm1d, track_running_stats: false}\n",
    ),
    "AC212": Explanation(
        what="Softmax or LogSoftmax without `dim`.",
        why="torch then picks a dim by a legacy rule and warns; the choice changes with the input's rank, "
        "which is rarely what was meant. Say which dim holds the classes.",
        example=_VEC + "  - {type: Linear, out_features: 10}\n  - Softmax\n",
        fix=_VEC + "  - {type: Linear, out_features: 10}\n  - {type: Softmax, dim: 1}\n",
    ),
    "AC213": Explanation(
        what="LayerNorm's `normalized_shape` differs from the input's trailing dims.",
        why="LayerNorm normalizes over the last dims, which must equal `normalized_shape` exactly; leaving it "
        "out has it inferred from the last dim.",
        example=_SEQ + "  - {type: LayerNorm, normalized_shape: 32}\n",
        fix=_SEQ + "  - {type: LayerNorm, normalized_shape: 64}\n",
    ),
    "AC214": Explanation(
        what="The input's dtype is one the layer cannot take: an Embedding fed floats, a convolution fed "
        "integer indices.",
        why="torch raises at run time (`Expected tensor for argument #1 'indices' to have scalar type Long`). "
        "Declare token inputs with `dtype: long`.",
        example="input: {shape: [N, L]}\nlayers:\n  - {type: Embedding, num_embeddings: 1000, embedding_dim: 64}\n",
        fix="input: {shape: [N, L], dtype: long}\nlayers:\n"
        "  - {type: Embedding, num_embeddings: 1000, embedding_dim: 64}\n",
    ),
    "AC215": Explanation(
        what="A size is not divisible by a factor the layer needs: `embed_dim` by `num_heads` in attention, "
        "channels by `upscale_factor**2` in PixelShuffle, spatial size by the factor in PixelUnshuffle.",
        why="torch's constructor or forward raises; each attention head gets `embed_dim // num_heads` dims "
        "and they must add up.",
        example=_SEQ + "  - {type: MultiheadAttention, embed_dim: 64, num_heads: 6}\n",
        fix=_SEQ + "  - {type: MultiheadAttention, embed_dim: 64, num_heads: 8}\n",
    ),
    "AC216": Explanation(
        what="Reshape or Unflatten sizes that do not multiply to the input's number of elements.",
        why="torch raises `shape '[...]' is invalid for input of size ...`. A single `-1` lets one size be computed.",
        example="input: {shape: [N, 48]}\nlayers:\n  - {type: Unflatten, dim: 1, unflattened_size: [3, 4, 5]}\n",
        fix="input: {shape: [N, 48]}\nlayers:\n  - {type: Unflatten, dim: 1, unflattened_size: [3, 4, 4]}\n",
    ),
    "AC217": Explanation(
        what="A Reshape whose first dim mixes up the input's samples: dim 0 of the output is neither the "
        "input's dim 0 nor a regrouping of whole leading dims, so a row of the output holds part of a sample "
        "(or parts of several).",
        why="This is the silent bug of `x.view(-1, 392)`: with a wrong feature count, a batch of 4 becomes a "
        "batch of 16 and training goes on with garbage. Keep the batch dim first (write `N`, or "
        "`[N, -1]`). The rule does not need to know which dim is the batch: a Reshape that merges whole "
        "leading dims into dim 0 and keeps every later dim (`[S, B, F]` to `[-1, F]`, torch's `view(-1, F)` "
        "on a sequence-first input; `[N, T]` to `[-1]`), or splits dim 0 back into leading dims "
        "(`[S*B, F]` to `[S, B, F]`), keeps each row a whole slice of one sample and is allowed.",
        example="input: {shape: [N, 32, 7, 7]}\nlayers:\n  - {type: Reshape, shape: [-1, 392]}\n",
        fix="input: {shape: [N, 32, 7, 7]}\nlayers:\n  - {type: Reshape, shape: [N, -1]}\n",
    ),
    "AC218": Explanation(
        what="An index outside the size of the selected dim (Select's `index`).",
        why="torch raises `index out of range`; negative indices count from the end.",
        example=_SEQ.replace("N, L", "N, 10") + "  - {type: Select, dim: 1, index: 10}\n",
        fix=_SEQ.replace("N, L", "N, 10") + "  - {type: Select, dim: 1, index: -1}\n",
    ),
    "AC219": Explanation(
        what="Attention inputs that do not fit together: query, key and value (or a decoder's target and "
        "memory) with different batch sizes, embedding sizes, or key and value of different lengths.",
        why="torch raises deep inside the attention code with a message about internal shapes; archcheck "
        "names the inputs that disagree.",
        example="inputs:\n  q: {shape: [N, L, 64]}\n  k: {shape: [N, 10, 64]}\n  v: {shape: [N, 12, 64]}\nlayers:\n"
        "  - {type: MultiheadAttention, embed_dim: 64, num_heads: 4, batch_first: true, inputs: [q, k, v]}\n",
        fix="inputs:\n  q: {shape: [N, L, 64]}\n  kv: {shape: [N, 10, 64]}\nlayers:\n"
        "  - {type: MultiheadAttention, embed_dim: 64, num_heads: 4, batch_first: true, inputs: [q, kv, kv]}\n",
    ),
    "AC220": Explanation(
        what="GroupNorm or InstanceNorm sees a single value per group or per instance (for example "
        "InstanceNorm on a 1x1 feature map).",
        why="The variance of one value is zero: torch raises (`Expected more than 1 spatial element when "
        "training`), or the output is all zeros.",
        example="input: {shape: [N, 8, 1, 1]}\nlayers:\n  - {type: InstanceNorm2d, num_features: 8}\n",
        fix="input: {shape: [N, 8, 4, 4]}\nlayers:\n  - {type: InstanceNorm2d, num_features: 8}\n",
    ),
    "AC221": Explanation(
        what="A layer would have so many parameters that their bytes (4 per fp32 value) exceed what torch "
        "can address (2**63 - 1), e.g. a Linear with out_features in the quintillions.",
        why="torch refuses to build it (`Storage size calculation overflowed`). It is almost always a typo "
        "or an expression that grew by mistake.",
        example="input: {shape: [N, 400]}\nlayers:\n  - {type: Linear, out_features: 9223372036854775807}\n",
        fix="input: {shape: [N, 400]}\nlayers:\n  - {type: Linear, out_features: 120}\n",
    ),
    "AC222": Explanation(
        what="A ConvTranspose whose padding removes everything it adds to its input, so that its output has "
        "a dim of size 0: `(L - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1` "
        "is 0.",
        why="torch returns an empty tensor for a batch larger than 1 or with groups; its plain CPU kernel, "
        "used for a batch of 1 (or an unbatched input) without groups, raises `Output size is too small` "
        "(on the meta device 2-D and 3-D run, 1-D raises). The verdict depends on the batch and the backend, "
        "so it is a warning, not an error; but nothing after the layer has anything to compute, and the "
        "layers that refuse an empty tensor are AC224. A negative size is an error (AC203).",
        example="input: {shape: [N, 16, 1, 8]}\nlayers:\n"
        "  - {type: ConvTranspose2d, out_channels: 8, kernel_size: 2, padding: 1}\n",
        fix="input: {shape: [N, 16, 1, 8]}\nlayers:\n  - {type: ConvTranspose2d, out_channels: 8, kernel_size: 2}\n",
    ),
    "AC223": Explanation(
        what="A tensor (a model input or a layer's output) holds more bytes than torch can allocate: its "
        "element count times the dtype's size exceeds 2**63 - 1, e.g. `[2**62, 4]` or 100 dims of 2. Free "
        "dims count as 1, so a shape whose fixed dims alone are too large is too large for every value.",
        why="torch raises `Storage size calculation overflowed` when the tensor is created. It is almost "
        "always a typo or an expression that grew by mistake. The layers that consume it are not checked.",
        example="input: {shape: [N, 4611686018427387904, 4]}\nlayers:\n  - {type: Linear, out_features: 8}\n",
        fix="input: {shape: [N, 64, 4]}\nlayers:\n  - {type: Linear, out_features: 8}\n",
    ),
    "AC224": Explanation(
        what="A layer gets an empty tensor (a dim of size 0, from a ConvTranspose with AC222) and torch's "
        "kernel for it refuses empty input: convolutions, most pools, Upsample, reflect/replicate padding.",
        why="torch raises at run time (`Kernel size can't be greater than actual input size`, `Expected "
        "... non-zero size`). Elementwise layers, norms, Linear, Flatten, reshapes, merges and constant "
        "padding run on an empty tensor and give an empty output, as archcheck computes.",
        example="input: {shape: [N, 16, 1, 8]}\nlayers:\n"
        "  - {type: ConvTranspose2d, out_channels: 8, kernel_size: 2, padding: 1}\n"
        "  - {type: Conv2d, out_channels: 8, kernel_size: 1}\n",
        fix="input: {shape: [N, 16, 1, 8]}\nlayers:\n"
        "  - {type: ConvTranspose2d, out_channels: 8, kernel_size: 2}\n"
        "  - {type: Conv2d, out_channels: 8, kernel_size: 1}\n",
    ),
    "AC240": Explanation(
        what="A MatMul whose inputs do not fit `torch.matmul`: the first input's last dim must equal the second's "
        "second-last dim (its only dim when 1-D), the dims before the last two must broadcast (equal or 1), "
        "neither input may be 0-D, and both must have one dtype.",
        why="torch raises at run time (`mat1 and mat2 shapes cannot be multiplied`, `The size of tensor a must "
        "match the size of tensor b at non-singleton dimension`). In attention, the keys are transposed first: "
        "`q @ k.transpose(-2, -1)`.",
        example="inputs:\n  q: {shape: [N, 4, 16, 8]}\n  k: {shape: [N, 4, 16, 8]}\nlayers:\n"
        "  - {name: s, type: MatMul, inputs: [q, k]}\n",
        fix="inputs:\n  q: {shape: [N, 4, 16, 8]}\n  k: {shape: [N, 4, 16, 8]}\nlayers:\n"
        "  - {name: kt, type: Transpose, dim0: -2, dim1: -1, inputs: [k]}\n"
        "  - {name: s, type: MatMul, inputs: [q, kt]}\n",
    ),
    "AC241": Explanation(
        what="An Arith layer that torch refuses for its input's dtype: an integer tensor raised to a negative "
        "integer power (`x ** -1`), or a bool tensor subtracted from.",
        why="torch raises at run time (`Integers to negative integer powers are not allowed`). A float power "
        "(`-1.0`) gives a float result.",
        example="input: {shape: [N, 4], dtype: long}\nlayers:\n  - {type: Arith, op: pow, value: -1}\n",
        fix="input: {shape: [N, 4], dtype: long}\nlayers:\n  - {type: Arith, op: pow, value: -1.0}\n",
    ),
    "AC242": Explanation(
        what="A Roll whose shifts and dims do not pair up: one shift per dim, or, without dims, a single shift "
        "(the tensor is rolled as if flattened).",
        why="torch raises at run time (`shifts and dimensions must align`).",
        example="input: {shape: [N, 8, 8, 4]}\nlayers:\n  - {type: Roll, shifts: [-3, -3], dims: [1]}\n",
        fix="input: {shape: [N, 8, 8, 4]}\nlayers:\n  - {type: Roll, shifts: [-3, -3], dims: [1, 2]}\n",
    ),
    "AC250": Explanation(
        what="A recurrent cell (LSTMCell, GRUCell, RNNCell) is given a state whose shape is not the input's "
        "batch dims followed by hidden_size: `[N, hidden_size]` for an input `[N, H_in]`, `[hidden_size]` for "
        "an unbatched `[H_in]`. LSTMCell's h and c are checked alike.",
        why="torch raises at the first step (`Input batch size 2 doesn't match hidden0 batch size 4`, "
        "`hidden0 has inconsistent hidden_size`). The cell's output (the new state) has the right shape "
        "whatever the old state was, so the layers after it are still checked.",
        example="inputs:\n  x: {shape: [N, 16]}\n  h: {shape: [N, 64]}\nlayers:\n"
        "  - {type: GRUCell, hidden_size: 32, inputs: [x, h]}\n",
        fix="inputs:\n  x: {shape: [N, 16]}\n  h: {shape: [N, 32]}\nlayers:\n"
        "  - {type: GRUCell, hidden_size: 32, inputs: [x, h]}\n",
    ),
    "AC251": Explanation(
        what="A MaxUnpool whose indices are not the shape of its input, or whose output_size (the size of "
        "its third input) is not within one stride of the size it computes: `(in - 1) * stride - 2 * padding "
        "+ kernel_size`, exclusive at both ends.",
        why="torch raises at run time (`Expected shape of indices to be same as that of the input tensor`, "
        "`invalid output_size`). The indices and the target size must come from the MaxPool being undone.",
        example="inputs:\n  x: {shape: [N, 8, 7, 7]}\n  idx: {shape: [N, 8, 3, 3], dtype: long}\n"
        "  big: {shape: [N, 8, 9, 9]}\nlayers:\n"
        "  - {name: pool, type: MaxPool2d, kernel_size: 2, inputs: [x]}\n"
        "  - {name: up, type: MaxUnpool2d, kernel_size: 2, inputs: [pool, idx, big]}\n",
        fix="inputs:\n  x: {shape: [N, 8, 7, 7]}\n  idx: {shape: [N, 8, 3, 3], dtype: long}\nlayers:\n"
        "  - {name: pool, type: MaxPool2d, kernel_size: 2, inputs: [x]}\n"
        "  - {name: up, type: MaxUnpool2d, kernel_size: 2, inputs: [pool, idx, x]}\n",
    ),
    "AC252": Explanation(
        what="A Fold whose input's last dim (the number of blocks L) is not the number of sliding blocks its "
        "output_size makes with its kernel_size, stride, padding and dilation: the product over H and W of "
        "`floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1`.",
        why="torch raises at run time (`expected size of input's dimension 2 to match the calculated number of "
        "sliding blocks`). A Fold usually undoes an Unfold: give it the Unfold's input size and the same options.",
        example="input: {shape: [N, 3, 8, 8]}\nlayers:\n  - {type: Unfold, kernel_size: 2, stride: 2}\n"
        "  - {type: Fold, output_size: 6, kernel_size: 2, stride: 2}\n",
        fix="input: {shape: [N, 3, 8, 8]}\nlayers:\n  - {type: Unfold, kernel_size: 2, stride: 2}\n"
        "  - {type: Fold, output_size: 8, kernel_size: 2, stride: 2}\n",
    ),
    "AC235": Explanation(
        what="A Split with one int size along a free dim (the number of parts is `ceil(L / size)`, unknown "
        "while L is free), a Chunk along a free dim that is never a multiple of `chunks`, or a split into "
        "more than 10,000 parts.",
        why="Each part is an output that later layers name by index, and the generated forward unpacks "
        "them: their number must be known from the spec. On a free dim, give the sizes as a list (they "
        "must sum to the dim: a condition on it), or use Chunk, whose number of parts is fixed when the "
        "dim is a multiple of `chunks` (a condition archcheck states).",
        example=_SEQ + "  - {name: parts, type: Split, split_size_or_sections: 4, dim: 1}\n"
        "  - {type: Linear, out_features: 8, inputs: [parts.0]}\n",
        fix=_SEQ + "  - {name: parts, type: Chunk, chunks: 4, dim: 1}\n"
        "  - {type: Linear, out_features: 8, inputs: [parts.0]}\n",
    ),
    "AC238": Explanation(
        what="`tie:` joins two parameters whose shapes differ, such as a Linear's weight [out, in] and an "
        "Embedding's weight [num, dim] when out is not num or in is not dim.",
        why="Tied parameters are one Parameter: torch would make the layer compute with the other's shape and "
        "fail at the first forward (`mat1 and mat2 shapes cannot be multiplied`). For a language model head "
        "tied to its token embedding, the head is Linear(dim, vocab): its weight is [vocab, dim], the "
        "embedding's shape.",
        example="input: {shape: [N, L], dtype: long}\nlayers:\n"
        "  - {name: wte, type: Embedding, num_embeddings: 100, embedding_dim: 16}\n"
        "  - {name: h, type: Linear, out_features: 32}\n"
        "  - {name: lm_head, type: Linear, out_features: 100, bias: false, tie: {weight: wte.weight}}\n",
        fix="input: {shape: [N, L], dtype: long}\nlayers:\n"
        "  - {name: wte, type: Embedding, num_embeddings: 100, embedding_dim: 16}\n"
        "  - {name: h, type: Linear, out_features: 16}\n"
        "  - {name: lm_head, type: Linear, out_features: 100, bias: false, tie: {weight: wte.weight}}\n",
    ),
    "AC236": Explanation(
        what="Split's `split_size_or_sections` is a list whose sizes do not sum to the size of the split dim.",
        why="torch refuses it at run time: `split_with_sizes expects split_sizes to sum exactly to 96`. "
        "The message gives both sums.",
        example=_SEQ + "  - {name: qkv, type: Split, split_size_or_sections: [32, 16], dim: -1}\n"
        "  - {type: Add, inputs: [qkv.0, qkv.1]}\n",
        fix=_SEQ + "  - {name: qkv, type: Split, split_size_or_sections: [32, 32], dim: -1}\n"
        "  - {type: Add, inputs: [qkv.0, qkv.1]}\n",
    ),
    # ------------------------------------------------------------ 3xx: graphs, composition, free dims
    "AC230": Explanation(
        what="`trainable: false` on a layer, Sequential or block instance that has no parameters (a ReLU, a "
        "pooling layer, an Add): there is nothing to freeze.",
        why="Freezing is `requires_grad_(False)` on the module's parameters; on a module without any it does "
        "nothing, so the mark is probably meant for a neighbouring layer with weights.",
        example=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3}\n  - {type: ReLU, trainable: false}\n",
        fix=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3, trainable: false}\n  - ReLU\n",
    ),
    "AC301": Explanation(
        what="`inputs` or `outputs` (or a block's `output`) names a layer or model input that does not exist.",
        why="Usually a typo or a renamed layer; the hint suggests the closest existing name.",
        example=_CNN + "  - {name: conv1, type: Conv2d, out_channels: 16, kernel_size: 3, padding: 1}\n"
        "  - {name: skip, type: Add, inputs: [conv1, conv0]}\n",
        fix=_CNN + "  - {name: conv1, type: Conv2d, out_channels: 3, kernel_size: 3, padding: 1}\n"
        "  - {name: skip, type: Add, inputs: [conv1, x]}\n",
    ),
    "AC302": Explanation(
        what="`inputs` names a later layer, or the layer itself.",
        why="Layers are evaluated in the order written, so this would be a cycle. Move the layer after the "
        "ones it reads.",
        example=_CNN + "  - {name: sum, type: Add, inputs: [x, conv1]}\n"
        "  - {name: conv1, type: Conv2d, out_channels: 3, kernel_size: 3, padding: 1, inputs: [x]}\n",
        fix=_CNN + "  - {name: conv1, type: Conv2d, out_channels: 3, kernel_size: 3, padding: 1, inputs: [x]}\n"
        "  - {name: sum, type: Add, inputs: [x, conv1]}\n",
    ),
    "AC303": Explanation(
        what="A layer inside a Sequential (or a `repeat`) names its `inputs`.",
        why="A Sequential is a chain: each layer takes the previous one's output, as in `nn.Sequential`. "
        "Branching belongs at the top level or in a block.",
        example=_CNN + "  - type: Sequential\n    layers:\n"
        "      - {name: a, type: Conv2d, out_channels: 8, kernel_size: 3}\n"
        "      - {type: ReLU, inputs: [a]}\n",
        fix=_CNN + "  - type: Sequential\n    layers:\n"
        "      - {name: a, type: Conv2d, out_channels: 8, kernel_size: 3}\n"
        "      - ReLU\n",
    ),
    "AC304": Explanation(
        what="A block that contains itself, directly or through other blocks (or blocks nested too deeply).",
        why="Expanding it would never end.",
        example="blocks:\n  Stage: {layers: [{type: Conv2d, out_channels: 3, kernel_size: 1}, Stage]}\n"
        + _CNN
        + "  - Stage\n",
        fix="blocks:\n  Stage: {layers: [{type: Conv2d, out_channels: 3, kernel_size: 1}, ReLU]}\n"
        + _CNN
        + "  - Stage\n  - Stage\n",
    ),
    "AC305": Explanation(
        what="A layer whose output reaches no model output (a warning).",
        why="Its parameters are trained by nothing and its compute is wasted; usually an `inputs:` entry "
        "points at the wrong layer, or `outputs:` forgets a head.",
        example=_VEC + "  - {name: a, type: Linear, out_features: 32}\n"
        "  - {name: b, type: Linear, out_features: 32, inputs: [x]}\n",
        fix=_VEC + "  - {name: a, type: Linear, out_features: 32}\n"
        "  - {name: b, type: Linear, out_features: 32, inputs: [x]}\n"
        "  - {name: sum, type: Add, inputs: [a, b]}\n",
    ),
    "AC306": Explanation(
        what="The network works only for some sizes of a free dim, for example when a downsampled branch "
        "and an upsampled one are added: the sizes agree only when `H` is even. The diagnostic states the "
        "condition (a warning while the dim is free).",
        why="It will fail for inputs that break the condition, which tests with one image size never show. "
        "Give the dim a value that satisfies it (`--dim H=224`), or pad or crop so that any size works.",
        example="input: {shape: [N, 8, H, W]}\nlayers:\n"
        "  - {name: down, type: MaxPool2d, kernel_size: 2}\n"
        "  - {name: up, type: Upsample, scale_factor: 2}\n"
        "  - {name: sum, type: Add, inputs: [x, up]}\n",
        fix="input: {shape: [N, 8, H, W]}\ndims: {H: 32, W: 32}\nlayers:\n"
        "  - {name: down, type: MaxPool2d, kernel_size: 2}\n"
        "  - {name: up, type: Upsample, scale_factor: 2}\n"
        "  - {name: sum, type: Add, inputs: [x, up]}\n",
    ),
    "AC307": Explanation(
        what="No size of the free dims makes the network work: a merge or a layer fails whatever value they take.",
        why="The network cannot run at all; usually one branch of a merge downsamples and the other does not.",
        example="input: {shape: [N, 8, H, W]}\nlayers:\n"
        "  - {name: down, type: MaxPool2d, kernel_size: 2}\n"
        "  - {name: sum, type: Add, inputs: [x, down]}\n",
        fix="input: {shape: [N, 8, H, W]}\nlayers:\n"
        "  - {name: same, type: MaxPool2d, kernel_size: 3, stride: 1, padding: 1}\n"
        "  - {name: sum, type: Add, inputs: [x, same]}\n",
    ),
    "AC308": Explanation(
        what="Tensors joined by Add, Multiply or Concat do not line up: the ranks differ, a dim differs "
        "where broadcasting needs equal sizes or 1, or a dim other than Concat's `dim` differs.",
        why="torch raises `The size of tensor a (16) must match the size of tensor b (32)` at run time; in a "
        "residual block this means the shortcut needs a projection (a 1x1 conv).",
        example=_CNN + "  - {name: conv, type: Conv2d, out_channels: 16, kernel_size: 3, padding: 1}\n"
        "  - {name: sum, type: Add, inputs: [x, conv]}\n",
        fix=_CNN + "  - {name: conv, type: Conv2d, out_channels: 16, kernel_size: 3, padding: 1}\n"
        "  - {name: proj, type: Conv2d, out_channels: 16, kernel_size: 1, inputs: [x]}\n"
        "  - {name: sum, type: Add, inputs: [proj, conv]}\n",
    ),
    "AC309": Explanation(
        what="A shape assertion does not hold: the output of a layer (or of a whole Sequential, block "
        "instance or `repeat`) differs from its `expect:`, or a model output differs from `output: {shape: "
        "...}` / the shape given in `outputs`. Entries are ints, free dim names, `$` expressions, `_` (any "
        "size) and `...` (any number of dims). With free dims the check is symbolic: `expect: [N, 1, H, W]` "
        "must hold for every size the network accepts, else the message says for which sizes it does hold.",
        why="A shape comment in a tutorial (`# Shape after pool1: [N, 16, 14, 14]`) goes stale silently; an "
        "`expect:` is checked on every run. An autoencoder whose output equals its input only when H is a "
        "multiple of 4 fails at the loss (`The size of tensor a (28) must match the size of tensor b (30)`) "
        "for the other sizes.",
        example=_CNN + "  - {name: conv, type: Conv2d, out_channels: 16, kernel_size: 3}\n"
        "  - {name: pool, type: MaxPool2d, kernel_size: 2, expect: [N, 16, 16, 16]}\n",
        fix=_CNN + "  - {name: conv, type: Conv2d, out_channels: 16, kernel_size: 3, padding: 1}\n"
        "  - {name: pool, type: MaxPool2d, kernel_size: 2, expect: [N, 16, 16, 16]}\n",
    ),
    "AC310": Explanation(
        what="An expected shape names a dim that is not a free dim of the spec: the input shapes (and "
        "`dims:`) define the names, e.g. `N`, `H`, `W`.",
        why="Usually a typo or a different naming habit (`B` for the batch where the input says `N`); a "
        "name that no tensor has could never be equal. Use `_` for a dim whose size does not matter.",
        example=_CNN + "  - {name: conv, type: Conv2d, out_channels: 16, kernel_size: 3, padding: 1, "
        "expect: [B, 16, 32, 32]}\n",
        fix=_CNN + "  - {name: conv, type: Conv2d, out_channels: 16, kernel_size: 3, padding: 1, "
        "expect: [N, 16, 32, 32]}\n",
    ),
    "AC311": Explanation(
        what="A free dim must be at least some size for every layer to have an output: a kernel larger than "
        "the input, or a stack of strided convs and pools that would shrink a dim to 0. The minimum is exact "
        "(the same as torch's rule: the minimum runs, one less fails). It is a note while the dim has no "
        "declared range, and a warning when `dims: {H: {min: ...}}` allows smaller sizes.",
        why="torch fails only at run time, with `Calculated output size: (0x0). Output size is too small`, "
        "for the small inputs nobody tested. Declare the range the model is meant for "
        "(`dims: {H: {min: 7}}`), or pad, or downsample less.",
        example="input: {shape: [N, 3, H, W]}\ndims: {H: {min: 1}, W: {min: 7}}\nlayers:\n"
        "  - {name: conv, type: Conv2d, out_channels: 8, kernel_size: 7}\n"
        "  - {name: pool, type: AdaptiveAvgPool2d, output_size: 1}\n",
        fix="input: {shape: [N, 3, H, W]}\ndims: {H: {min: 7}, W: {min: 7}}\nlayers:\n"
        "  - {name: conv, type: Conv2d, out_channels: 8, kernel_size: 7}\n"
        "  - {name: pool, type: AdaptiveAvgPool2d, output_size: 1}\n",
    ),
    "AC312": Explanation(
        what="A range in `dims:` whose `min` is larger than its `max`: no size is in it.",
        why="Conditions on the dim would be solved over an empty range; the bounds are most likely swapped.",
        example="input: {shape: [N, 3, H, W]}\ndims: {H: {min: 224, max: 32}}\nlayers:\n  - ReLU\n",
        fix="input: {shape: [N, 3, H, W]}\ndims: {H: {min: 32, max: 224}}\nlayers:\n  - ReLU\n",
    ),
    "AC313": Explanation(
        what="A condition on a free dim that archcheck cannot state exactly: its pattern repeats only every "
        "very many sizes (more than 16,384: many different strides), or the sizes are not floors of linear "
        "forms of the dim (a dim multiplied by itself). Nothing is enumerated instead: the warning says so.",
        why="The network may fail for some sizes. Give the dim a value (`--dim H=224`, `dims: {H: 224}`) "
        "to check the sizes you use.",
        example="input: {shape: [N, 4, H]}\nlayers:\n"
        "  - {name: a, type: MaxPool1d, kernel_size: 127}\n"
        "  - {name: b, type: MaxPool1d, kernel_size: 131, inputs: [x]}\n"
        "  - {name: ua, type: Upsample, scale_factor: 127, inputs: [a]}\n"
        "  - {name: ub, type: Upsample, scale_factor: 131, inputs: [b]}\n"
        "  - {name: sum, type: Add, inputs: [ua, ub]}\n",
        fix="input: {shape: [N, 4, H]}\ndims: {H: 16637}\nlayers:\n"
        "  - {name: a, type: MaxPool1d, kernel_size: 127}\n"
        "  - {name: b, type: MaxPool1d, kernel_size: 131, inputs: [x]}\n"
        "  - {name: ua, type: Upsample, scale_factor: 127, inputs: [a]}\n"
        "  - {name: ub, type: Upsample, scale_factor: 131, inputs: [b]}\n"
        "  - {name: sum, type: Add, inputs: [ua, ub]}\n",
    ),
    "AC314": Explanation(
        what="A free dim was given a value (`--dim H=16`, `archcheck.check(..., dims=...)`, an explore axis) "
        "outside the range the spec declares for it in `dims: {H: {min: ..., max: ...}}`.",
        why="The range states the sizes the model is meant for, and archcheck checks the network for them; a "
        "value outside it checks a model nobody intends to run, or shows that the range is out of date.",
        example="# archcheck validate --dim H=16 spec.yaml\n"
        "input: {shape: [N, 3, H, W]}\ndims: {H: {min: 32, max: 224}, W: 64}\nlayers:\n  - ReLU\n",
        fix="# archcheck validate --dim H=16 spec.yaml\n"
        "input: {shape: [N, 3, H, W]}\ndims: {H: {min: 8, max: 224}, W: 64}\nlayers:\n  - ReLU\n",
        checked=False,  # needs --dim: tests/test_dim_conditions.py runs it with dims={"H": 16}
    ),
    # ------------------------------------------------------------ 4xx: layout
    # Warnings: torch runs, but a dim is used as something it is not. archcheck tracks each dim's role
    # (batch, channels, spatial, sequence, features) from the model input (its dim names, or `layout:`)
    # through every layer; a dim whose role it cannot tell never warns. Silence a meant one with
    # `noqa: [AC4xx]` on the layer, or a noqa comment naming the code on its line (see AC409).
    "AC401": Explanation(
        what="A Linear whose input is a conv or pool output of rank > 2 ([N, C, H, W]) and whose last dim "
        "is spatial: torch's Linear acts on the last dim only, so it mixes the W columns of each row and "
        "channel separately. Almost always the Flatten before the classifier was forgotten. A Linear on "
        "[N, L, D] token features, or after a Permute to channels-last ([N, H, W, C], as in ConvNeXt), "
        "is fine and not reported.",
        why="Nothing fails: in_features is inferred as W (or matches by accident), the output is "
        "[N, C, H, out_features], and a later Flatten or loss may still accept it, so the network trains "
        "on a meaningless layout. The hint gives the in_features that Flatten would give.",
        example=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3, padding: 1}\n"
        "  - {type: MaxPool2d, kernel_size: 2}\n"
        "  - {name: fc, type: Linear, out_features: 10}\n",
        fix=_CNN + "  - {type: Conv2d, out_channels: 16, kernel_size: 3, padding: 1}\n"
        "  - {type: MaxPool2d, kernel_size: 2}\n"
        "  - Flatten\n"
        "  - {name: fc, type: Linear, out_features: 10}\n",
    ),
    "AC402": Explanation(
        what="An RNN, GRU or LSTM (or an attention layer) fed a conv's output [N, C, T] directly: with "
        "batch_first it reads [N, L, H_in], so it steps over the C channels as time and takes the T "
        "positions of each channel as the features of a step.",
        why="It runs (input_size is inferred as T, or T happens to match), but the recurrence runs over "
        "channels, whose order means nothing, and the model cannot generalise over the length. "
        "Transpose the conv's output to [N, T, C] first.",
        example="input: {shape: [N, 1, 100]}\nlayers:\n"
        "  - {type: Conv1d, out_channels: 64, kernel_size: 3}\n"
        "  - {type: LSTM, hidden_size: 32, batch_first: true}\n",
        fix="input: {shape: [N, 1, 100]}\nlayers:\n"
        "  - {type: Conv1d, out_channels: 64, kernel_size: 3}\n"
        "  - {type: Transpose, dim0: 1, dim1: 2}\n"
        "  - {type: LSTM, hidden_size: 32, batch_first: true}\n",
    ),
    "AC403": Explanation(
        what="An RNN/GRU/LSTM, MultiheadAttention or Transformer layer whose time axis is the batch: torch "
        "defaults to batch_first: false ([L, N, E]), so a batch-first input [N, L, E] (an Embedding of "
        "[N, L] tokens) makes it run, or attend, across the samples of the batch. The reverse (a "
        "sequence-first input with batch_first: true) is reported too.",
        why="The shapes fit either way, so nothing fails; the model mixes unrelated samples and its "
        "results depend on the batch size. Set batch_first to match the input.",
        example="input: {shape: [N, L], dtype: long}\nlayers:\n"
        "  - {type: Embedding, num_embeddings: 1000, embedding_dim: 64}\n"
        "  - {type: TransformerEncoderLayer, nhead: 4}\n",
        fix="input: {shape: [N, L], dtype: long}\nlayers:\n"
        "  - {type: Embedding, num_embeddings: 1000, embedding_dim: 64}\n"
        "  - {type: TransformerEncoderLayer, nhead: 4, batch_first: true}\n",
    ),
    "AC404": Explanation(
        what="A Concat along the batch dim. Concat's default `dim: 0` (as torch.cat's) joins two [N, ...] "
        "branches into [2*N, ...]: twice the samples, not wider ones.",
        why="Nothing fails until a loss compares 2*N predictions with N targets, or worse, broadcasting "
        "hides it. Joining branches means dim: 1 (channels or features). When the branches differ in "
        "dim 1 only, the error AC308 says so too.",
        example=_VEC + "  - {name: a, type: Linear, out_features: 32}\n"
        "  - {name: b, type: Linear, out_features: 32, inputs: [x]}\n"
        "  - {name: cat, type: Concat, inputs: [a, b]}\n",
        fix=_VEC + "  - {name: a, type: Linear, out_features: 32}\n"
        "  - {name: b, type: Linear, out_features: 32, inputs: [x]}\n"
        "  - {name: cat, type: Concat, dim: 1, inputs: [a, b]}\n",
    ),
    "AC405": Explanation(
        what="A Mean, Softmax, LogSoftmax or Select along the batch dim: `Softmax dim: 0` on class scores "
        "[N, 10], `Mean dim: [0, 2, 3]` as a global pool, `Select dim: 0`.",
        why="Each sample's result then depends on the other samples in the batch (or only one sample is "
        "kept): training looks fine and inference with another batch size gives other answers.",
        example=_VEC + "  - {type: Linear, out_features: 10}\n  - {type: Softmax, dim: 0}\n",
        fix=_VEC + "  - {type: Linear, out_features: 10}\n  - {type: Softmax, dim: -1}\n",
    ),
    "AC406": Explanation(
        what="A Flatten (start_dim: 0) that merges the batch dim with the others: [N, 32, 7, 7] becomes [N*1568].",
        why="The samples are no longer separate; a following Linear needs in_features N*1568, which "
        "depends on the batch size. Flatten's default start_dim: 1 keeps the batch.",
        example=_CNN + "  - {type: Flatten, start_dim: 0}\n",
        fix=_CNN + "  - {type: Flatten}\n",
    ),
    "AC407": Explanation(
        what="A Permute or Transpose that moves the batch dim behind the others (to dim 2 or later), such "
        "as `Permute [1, 2, 3, 0]` written for channels-last, forgetting that dims count the batch. "
        "Moving it to dim 1 (a sequence-first [L, N, E] layout) is not reported.",
        why="The next layers treat another dim as the batch; shapes often still fit.",
        example=_CNN + "  - {type: Permute, dims: [1, 2, 3, 0]}\n",
        fix=_CNN + "  - {type: Permute, dims: [0, 2, 3, 1]}\n",
    ),
    "AC408": Explanation(
        what="A model input that no layer uses: the generated forward takes it and ignores it.",
        why="Usually a layer's `inputs:` names the wrong input, or a branch was deleted. Callers must "
        "still pass the tensor. (A layer output that nothing uses is AC305.)",
        example="inputs:\n  image: {shape: [N, 3, 32, 32]}\n  mask: {shape: [N, 1, 32, 32]}\nlayers:\n"
        "  - {type: Conv2d, out_channels: 8, kernel_size: 3, inputs: [image]}\n",
        fix="inputs:\n  image: {shape: [N, 3, 32, 32]}\n  mask: {shape: [N, 1, 32, 32]}\nlayers:\n"
        "  - {name: both, type: Concat, dim: 1, inputs: [image, mask]}\n"
        "  - {type: Conv2d, out_channels: 8, kernel_size: 3}\n",
    ),
    "AC409": Explanation(
        what="A `# noqa` (or `# archcheck: noqa`) comment without codes. archcheck silences only the codes "
        "a noqa names (`# noqa: AC401`, `# archcheck: noqa: AC408` for the whole file, or a field "
        "`noqa: [AC401]` on a layer or at the top level), so a bare noqa silences nothing.",
        why="A blanket noqa would hide every present and future warning on the line, including new "
        "mistakes (ruff's PGH004 refuses it for the same reason). Name the codes you mean.",
        example=_CNN + "  - {type: Linear, out_features: 10}  # noqa\n",
        fix=_CNN + "  - {type: Linear, out_features: 10}  # noqa: AC401\n",
    ),
    "AC410": Explanation(
        what="A noqa code that silenced nothing: no such warning is reported on that layer (or file), the "
        "code is not archcheck's, or it names an error (errors are never silenced: torch would fail).",
        why="Stale noqa comments pile up and hide the next real finding (ruff's RUF100). Remove the code.",
        example=_VEC + "  - {type: Linear, out_features: 10}  # noqa: AC401\n",
        fix=_VEC + "  - {type: Linear, out_features: 10}\n",
    ),
    "AC411": Explanation(
        what="A Conv1d whose input is a sequence of features [N, L, E] (an Embedding's or a Transformer's "
        "output): torch's Conv1d reads [N, C, L], so it takes the L positions as channels and slides along "
        "the E features.",
        why="It runs when in_channels is inferred (or equals L by accident), but the convolution mixes all "
        "positions at once and slides over the embedding, which has no order. Transpose to [N, E, L] "
        "before the conv (and back after it).",
        example="input: {shape: [N, L], dtype: long}\ndims: {L: 50}\nlayers:\n"
        "  - {type: Embedding, num_embeddings: 1000, embedding_dim: 64}\n"
        "  - {type: Conv1d, out_channels: 64, kernel_size: 3, padding: 1}\n",
        fix="input: {shape: [N, L], dtype: long}\ndims: {L: 50}\nlayers:\n"
        "  - {type: Embedding, num_embeddings: 1000, embedding_dim: 64}\n"
        "  - {type: Transpose, dim0: 1, dim1: 2}\n"
        "  - {type: Conv1d, out_channels: 64, kernel_size: 3, padding: 1}\n",
    ),
    # ------------------------------------------------------------ 9xx: archcheck itself
    "AC901": Explanation(
        what="archcheck itself failed while checking a layer: a bug in a shape rule, not in the spec.",
        why="The other layers are still checked, but this one's result is unknown. Please report it with "
        "the spec (or the smallest part of it that shows the failure); the CLI exits 3 on such bugs "
        "and `archcheck --debug` shows the traceback.",
        example="# any spec that makes a shape rule fail unexpectedly\n",
        fix="# nothing to change in the spec: report the bug\n",
        checked=False,
    ),
}


HEADINGS = ("What it means", "Why it matters", "Example", "Fix")


def find(query: str) -> Code | None:
    """The code for ``query``: a code (``AC201``, ``ac201``, ``201``) or a kebab name (``channel-mismatch``)."""
    q = query.strip()
    if q.upper() in CODES:
        return CODES[q.upper()]
    if q.isdigit() and f"AC{q.zfill(3)}" in CODES:
        return CODES[f"AC{q.zfill(3)}"]
    key = q.lower().replace("_", "-").replace(" ", "-")
    return BY_NAME.get(key)


def suggest(query: str) -> str | None:
    """The closest code or name to an unknown ``query``, for 'did you mean'."""
    q = query.strip()
    if q.upper().startswith("AC") and (c := find("AC" + q[2:].upper().replace("O", "0").replace("I", "1"))):
        return c.code  # AC2O1: a letter O for a zero
    return did_you_mean(q, list(CODES) + list(BY_NAME))


def _indent(text: str, pad: str = "    ") -> str:
    return "\n".join(pad + line if line else line for line in text.rstrip("\n").splitlines())


def text(code: str) -> str:
    """The explanation of ``code`` for a terminal."""
    c, e = CODES[code], EXPLANATIONS[code]

    def wrap(s: str) -> str:
        return textwrap.fill(s, 88, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False)

    return "\n\n".join(
        [
            f"{c.code} {c.name}: {c.summary}",
            f"{HEADINGS[0]}\n{wrap(e.what)}",
            f"{HEADINGS[1]}\n{wrap(e.why)}",
            f"{HEADINGS[2]}\n{_indent(e.example)}",
            f"{HEADINGS[3]}\n{_indent(e.fix)}",
        ]
    )


def markdown() -> str:
    """docs/diagnostics.md: a table of all codes, then one section per code."""
    out = [
        "# Diagnostic codes",
        "",
        "<!-- Generated by `python -m archcheck.diagnostics.explain --markdown > docs/diagnostics.md`; do not edit. -->",
        "",
        "Every finding archcheck reports has a stable code and a short name. `archcheck explain CODE` "
        "(or the name, e.g. `archcheck explain channel-mismatch`) prints the text below in a terminal.",
        "",
        "| code | name | summary |",
        "| --- | --- | --- |",
    ]
    for c in CODES.values():
        out.append(f"| [{c.code}](#{c.code.lower()}-{c.name}) | `{c.name}` | {c.summary} |")
    for c in CODES.values():
        e = EXPLANATIONS.get(c.code)
        out += ["", f"## {c.code} {c.name}", "", f"*{c.summary}*", ""]
        if e is None:
            out.append("(no explanation yet)")
            continue
        out += [f"**{HEADINGS[0]}.** {e.what}", "", f"**{HEADINGS[1]}.** {e.why}", ""]
        out += [f"**{HEADINGS[2]}:**", "", "```yaml", e.example.rstrip("\n"), "```", ""]
        out += [f"**{HEADINGS[3]}:**", "", "```yaml", e.fix.rstrip("\n"), "```"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m archcheck.diagnostics.explain --markdown`` prints docs/diagnostics.md; ``CODE`` prints one text."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--markdown"]:
        sys.stdout.write(markdown())
        return 0
    if len(args) == 1 and (c := find(args[0])) is not None:
        print(text(c.code))
        return 0
    print("usage: python -m archcheck.diagnostics.explain --markdown | CODE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
