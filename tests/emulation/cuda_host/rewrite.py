"""CUDA C source to host C++: instrumented kernel parameters, shared memory, launch shims.

The rewrite keeps every line where it was (compiler messages name the kernel file's lines):

* pointer parameters of ``__global__`` functions, ``T* __restrict__ p``, become
  ``gpt::gptr<T> p`` (bounds-checked, see ``cuda_host.h``);
* explicit instantiations ``template __global__ void f<...>(...);`` are blanked (the shims
  instantiate what ``name_expressions`` names);
* ``extern __shared__ T a[];`` becomes a pointer to the block's dynamic shared memory and
  ``__shared__ T a[N];`` a reference into the block's static shared memory.

Example
-------
>>> src = 'extern "C" __global__ void k(const float* __restrict__ x, int n) { }'
>>> text, kernels = rewrite_source(src)
>>> kernels
[('k', True)]
>>> "gpt::gptr<const float> x" in text
True
"""

from __future__ import annotations

import re

_GLOBAL = re.compile(r"\b__global__\s+void\s+(\w+)\s*(<)?")
_EXTERN_SHARED = re.compile(
    r"\bextern\s+__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?([A-Za-z_][\w\s:]*?)\s+(\w+)\s*\[\s*\]\s*;"
)
_SHARED = re.compile(
    r"\b__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?([A-Za-z_][\w\s:<>,]*?)\s+(\w+)\s*((?:\[[^\]]*\])*)\s*;"
)


def _matching(text: str, start: int, open_: str, close: str) -> int:
    """Index of the bracket closing the one at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced {open_!r} at offset {start}")


def split_top_level(text: str) -> list[str]:
    """Split at commas outside ``<>``, ``()`` and ``[]``.

    >>> split_top_level("a<int, 2>, b(1, 2), c")
    ['a<int, 2>', ' b(1, 2)', ' c']
    """
    parts, depth, cur = [], 0, []
    for c in text:
        if c in "<([":
            depth += 1
        elif c in ">)]":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return parts


def _blank(text: str) -> str:
    """The same number of newlines, nothing else."""
    return "\n" * text.count("\n")


def rewrite_param(param: str) -> str:
    """One parameter: pointers become ``gpt::gptr<pointee>``, the rest stays.

    >>> rewrite_param(" const int4* __restrict__ nodes")
    ' gpt::gptr<const int4> nodes'
    >>> rewrite_param("long long n")
    'long long n'
    """
    lead = param[: len(param) - len(param.lstrip())]
    body = param.strip()
    if "*" not in body:
        return param
    if body.count("*") > 1 or "(" in body or "[" in body:
        raise ValueError(f"kernel parameter {body!r}: only scalars and single pointers are supported")
    body = re.sub(r"\b__restrict__\b|\b__restrict\b", " ", body)
    left, right = body.split("*")
    right = re.sub(r"\bconst\b", " ", right).strip()
    pointee = " ".join(left.split())
    return f"{lead}gpt::gptr<{pointee}>{' ' + right if right else ''}"


def rewrite_source(code: str) -> tuple[str, list[tuple[str, bool]]]:
    """Rewrite a CUDA source for the host; return it and its kernels ``(name, extern_c)``.

    Templates are listed with ``extern_c=False``; explicit instantiations are dropped.
    """
    out: list[str] = []
    kernels: list[tuple[str, bool]] = []
    pos = 0
    for m in _GLOBAL.finditer(code):
        if m.start() < pos:
            continue
        before = code[pos : m.start()]
        head = code[: m.start()].rstrip()
        name = m.group(1)
        if re.search(r"\btemplate$", head):  # explicit instantiation: drop up to the ';'
            t0 = head.rfind("template")
            end = code.index(";", m.end()) + 1
            out.append(code[pos:t0] + _blank(code[t0:end]))
            pos = end
            continue
        if m.group(2):  # an explicit specialisation f<...>(...): skip over the arguments
            popen = code.index("(", _matching(code, m.end() - 1, "<", ">"))
        else:
            popen = m.end() - 1 if code[m.end() - 1] == "(" else code.index("(", m.end())
        pclose = _matching(code, popen, "(", ")")
        params = split_top_level(code[popen + 1 : pclose])
        if len(params) == 1 and params[0].strip() in ("", "void"):
            new_params = code[popen + 1 : pclose]
        else:
            new_params = ",".join(rewrite_param(p) for p in params)
        out.append(before + code[m.start() : popen + 1] + new_params + ")")
        pos = pclose + 1
        rest = code[pos:].lstrip()
        if rest.startswith("{") and not m.group(2):
            extern_c = bool(re.search(r'extern\s+"C"\s*$', head))
            if (name, extern_c) not in kernels:
                kernels.append((name, extern_c))
    out.append(code[pos:])
    text = "".join(out)
    text = _EXTERN_SHARED.sub(
        lambda m: f"{m.group(1)}* {m.group(2)} = ::gpt::dynamic_shared<{m.group(1)}>();", text
    )
    text = _SHARED.sub(
        lambda m: f"auto& {m.group(2)} = ::gpt::static_shared<{m.group(1)}{m.group(3)}>(__COUNTER__);", text
    )
    return text, kernels


def shims(exports: list[str]) -> str:
    """C entry points of the exported kernels (``extern "C"`` names or template instantiations).

    >>> "gpt_launch_0" in shims(["k"])
    True
    """
    lines = []
    for k, expr in enumerate(exports):
        lines.append(
            f"GPT_EXPORT const char* gpt_sig_{k}() "
            f"{{ static std::string s = gpt::signature(&{expr}); return s.c_str(); }}\n"
            f"GPT_EXPORT int gpt_launch_{k}(gpt::Config* c, void** a, char* e, int n) "
            f"{{ return gpt::launch(&{expr}, c, a, e, n); }}\n"
        )
    return "".join(lines)
