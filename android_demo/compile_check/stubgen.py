"""Java stubs of Android/AndroidX classes from the chaquopy .pyi stub packages.

The chaquopy-stubs-* wheels (PyPI) are generated from the real android.jar and AndroidX AARs, so
their parameter types, method names, arities, static-ness, fields, generics and class hierarchy
are the real ones. This turns the classes listed in api.txt into Java sources (bodies throw) that
kotlinc can compile the app against. Two things the .pyi files lose are restored by overrides.txt:
method type parameters used only in the return type, and the width of primitive return types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

PRIMITIVES = {
    "jint": "int",
    "jlong": "long",
    "jshort": "short",
    "jbyte": "byte",
    "jchar": "char",
    "jfloat": "float",
    "jdouble": "double",
    "jboolean": "boolean",
}
JDK_INTERFACES = {
    "java.lang.CharSequence",
    "java.lang.Comparable",
    "java.lang.Appendable",
    "java.lang.Iterable",
    "java.lang.Runnable",
    "java.lang.Cloneable",
    "java.lang.AutoCloseable",
    "java.io.Closeable",
    "java.io.Serializable",
    "java.io.Flushable",
}
JAVA_KEYWORDS = {
    "abstract",
    "assert",
    "boolean",
    "break",
    "byte",
    "case",
    "catch",
    "char",
    "class",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extends",
    "final",
    "finally",
    "float",
    "for",
    "goto",
    "if",
    "implements",
    "import",
    "instanceof",
    "int",
    "interface",
    "long",
    "native",
    "new",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "short",
    "static",
    "strictfp",
    "super",
    "switch",
    "synchronized",
    "this",
    "throw",
    "throws",
    "transient",
    "try",
    "void",
    "volatile",
    "while",
    "true",
    "false",
    "null",
}


BOUNDS: dict[tuple[str, str], str] = {}  # (module, TypeVar name) -> bound, as the .pyi writes it


class Unresolvable(Exception):
    """A type outside the stubbed classes and the JDK: the member that uses it is left out."""


@dataclass
class PyClass:
    name: str  # fully qualified, nested with dots
    module: str
    bases: list[str]
    type_params: list[str]
    lines: list[tuple[list[str], str]] = field(default_factory=list)  # (decorators, member line)
    nested: list[PyClass] = field(default_factory=list)


def split_top(text: str, sep: str = ",") -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def parse_module(path: Path, module: str) -> tuple[dict[str, PyClass], dict[str, str]]:
    """Classes (by qualified name) and TypeVar names -> Java type parameter names of one .pyi file."""
    classes: dict[str, PyClass] = {}
    typevars: dict[str, str] = {}
    stack: list[tuple[int, PyClass]] = []
    decorators: list[str] = []
    for raw in path.read_text().splitlines():
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip())
        line = raw.strip()
        tv = re.match(r"(\w+) = typing\.TypeVar\('\w+'(?:, bound=([\w.]+))?\)\s+# <(\w+)>", line)
        if tv:
            typevars[tv.group(1)] = tv.group(3)
            if tv.group(2):
                BOUNDS[(module, tv.group(1))] = tv.group(2)
            continue
        while stack and indent <= stack[-1][0]:
            stack.pop()
        m = re.match(r"class (\w+)\((.*)\):( \.\.\.)?$", line)
        if m:
            outer = stack[-1][1] if stack else None
            qualified = f"{outer.name}.{m.group(1)}" if outer else f"{module}.{m.group(1)}"
            bases, params = [], []
            for base in split_top(m.group(2)):
                g = re.match(r"typing\.Generic\[(.*)\]$", base)
                if g:
                    params = split_top(g.group(1))
                else:
                    bases.append(base)
            cls = PyClass(qualified, module, bases, params)
            classes[qualified] = cls
            if outer:
                outer.nested.append(cls)
            stack.append((indent, cls))
            decorators = []
            continue
        if line.startswith("@"):
            decorators.append(line)
            continue
        if stack:
            stack[-1][1].lines.append((decorators, line))
        decorators = []
    return classes, typevars


class Generator:
    def __init__(self, stub_roots: list[Path], api: dict[str, str], overrides: dict[str, list[str]]):
        self.roots = stub_roots
        self.api = api  # qualified name -> kind
        self.overrides = overrides
        self.classes: dict[str, PyClass] = {}
        self.typevars: dict[str, dict[str, str]] = {}
        for name in api:
            self._load_module_of(name)
        missing = [name for name in api if name not in self.classes]
        if missing:
            raise SystemExit(f"api.txt names classes the stub packages do not have: {missing}")
        self.included = {name for name in api}
        for name in api:
            self._include_nested(self.classes[name])

    def _include_nested(self, cls: PyClass) -> None:
        for inner in cls.nested:
            if "java.lang.annotation.Annotation" not in inner.bases:  # @IntDef-style annotations
                self.included.add(inner.name)
                self._include_nested(inner)

    def _load_module_of(self, name: str) -> None:
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:cut])
            if module in self.typevars:
                return
            for root in self.roots:
                top, *rest = parts[:cut]
                path = (
                    root / f"{top}-stubs" / Path(*rest) / "__init__.pyi" if rest else root / f"{top}-stubs/__init__.pyi"
                )
                if path.is_file():
                    classes, typevars = parse_module(path, module)
                    self.classes.update(classes)
                    self.typevars[module] = typevars
                    return

    def kind(self, name: str) -> str:
        if name in self.api:
            return self.api[name]
        cls = self.classes.get(name)
        if cls and any(b.startswith("java.lang.Enum[") for b in cls.bases):
            return "enum"
        return "class"

    # -- types ---------------------------------------------------------------------------------
    def qualify(self, text: str, module: str) -> str:
        """A name as the .pyi writes it (relative to its module or absolute) -> qualified name."""
        first = text.split(".")[0]
        if first in ("java", "javax", "android", "androidx", "com", "org", "dalvik", "kotlin"):
            return text
        return f"{module}.{text}"

    def jtype(self, text: str, module: str, typevars: dict[str, str], ret: bool = False) -> str:
        text = text.strip().strip("'\"")
        options = [o.strip() for o in split_top(text, "|")]
        for option in options:  # primitive arrays: java.chaquopy.JavaArrayJInt -> int[]
            p = re.match(r"java\.chaquopy\.JavaArrayJ(\w+)$", option)
            if p and "j" + p.group(1).lower() in PRIMITIVES:
                return PRIMITIVES["j" + p.group(1).lower()] + "[]"
        if len(options) > 1:
            options = [o for o in options if o != "None"]
            for option in options:
                if option.startswith("java.j") and option[5:] in PRIMITIVES:
                    return PRIMITIVES[option[5:]]
            if "java.lang.Object" in options:
                return "Object"
            if "str" in options:
                return "String"
            java = [o for o in options if o not in ("int", "float", "bool", "str")]
            text = java[0] if java else options[0]
        if text == "None":
            return "void"
        if text == "java.jvoid":
            return "Void"
        if text.startswith("java.j") and text[5:] in PRIMITIVES:
            return PRIMITIVES[text[5:]]
        if text in ("int", "float", "bool", "str"):
            return {"int": "int", "float": "float", "bool": "boolean", "str": "String"}[text]
        if text == "typing.Any":
            return "Object"
        if text in typevars:
            return typevars[text]
        g = re.match(r"([\w.]+)\[(.*)\]$", text)
        if g:
            if g.group(1) == "typing.Type":
                arg = g.group(2).strip()
                if arg in ("java.lang.Object", "typing.Any"):
                    return "java.lang.Class<?>"
                inner = self.jtype(arg, module, typevars)
                return f"java.lang.Class<{inner}>" if arg in typevars else f"java.lang.Class<? extends {inner}>"
            if g.group(1) == "java.chaquopy.JavaArray":
                return self.jtype(g.group(2), module, typevars) + "[]"
            base = self.jtype(g.group(1), module, typevars)
            args = [
                "?" if a.strip() == "typing.Any" else self._boxed(self.jtype(a, module, typevars))
                for a in split_top(g.group(2))
            ]
            return f"{base}<{', '.join(args)}>"
        if text.startswith("typing."):
            raise Unresolvable(text)
        name = self.qualify(text, module)
        if name.startswith("java.") and not name.startswith("java.chaquopy"):
            return name
        if name in self.included:
            return name
        raise Unresolvable(name)

    @staticmethod
    def _boxed(t: str) -> str:
        return {
            "int": "Integer",
            "long": "Long",
            "short": "Short",
            "byte": "Byte",
            "char": "Character",
            "float": "Float",
            "double": "Double",
            "boolean": "Boolean",
        }.get(t, t)

    # -- classes -------------------------------------------------------------------------------
    def java_sources(self) -> dict[str, str]:
        """Relative path -> Java source for every top-level class listed in api.txt."""
        out = {}
        for name in sorted(self.api):
            cls = self.classes[name]
            outer = name.rsplit(".", 1)[0]
            if outer in self.classes:  # nested: emitted inside its outer class
                continue
            package = cls.module
            body = self.render(cls, top=True)
            out[name.replace(".", "/") + ".java"] = f"package {package};\n\n{body}"
        out["stubsupport/Stub.java"] = (
            "package stubsupport;\n\npublic final class Stub {\n"
            '    @SuppressWarnings("unchecked")\n'
            "    public static <T> T v() { return (T) null; }\n}\n"
        )
        return out

    def render(self, cls: PyClass, top: bool) -> str:
        module = cls.module
        typevars = dict(self.typevars.get(module, {}))
        kind = self.kind(cls.name)
        simple = cls.name.rsplit(".", 1)[1]
        params = [typevars.get(p, p) for p in cls.type_params]
        superclass, interfaces = None, []
        for base in cls.bases:
            try:
                t = self.jtype(base, module, typevars)
            except Unresolvable:
                continue
            raw = t.split("<")[0]
            if raw in ("java.lang.Object",) or raw.startswith("java.lang.Enum"):
                continue
            if raw in JDK_INTERFACES or self.kind(raw) == "interface":
                interfaces.append(t)
            elif kind == "class" and superclass is None:
                superclass = t
        head = "public " + ("" if top else "static ")
        generic = f"<{', '.join(params)}>" if params else ""
        if kind == "interface":
            head += f"interface {simple}{generic}"
            if interfaces:
                head += " extends " + ", ".join(interfaces)
        elif kind == "enum":
            head += f"enum {simple}"
            if interfaces:
                head += " implements " + ", ".join(interfaces)
        else:
            head += f"class {simple}{generic}"
            if superclass:
                head += f" extends {superclass}"
            if interfaces:
                head += " implements " + ", ".join(interfaces)
        members, constants = self.members(cls, kind, simple, typevars)
        lines = [head + " {"]
        if kind == "enum":
            lines.append("    " + ", ".join(constants) + ";")
        elif kind == "class" and not any(m.lstrip().startswith(f"public {simple}()") for m in members):
            lines.append(f"    protected {simple}() {{ {'super();' if superclass else ''} }}")
        lines += members
        for inner in cls.nested:
            if inner.name in self.included:
                lines.append("    " + self.render(inner, top=False).replace("\n", "\n    "))
        lines.append("}")
        return "\n".join(lines) + "\n"

    def members(self, cls: PyClass, kind: str, simple: str, typevars: dict[str, str]):
        out, constants, seen = [], [], set()
        replaced = set()
        for decorators, line in cls.lines:
            f = re.match(r"(\w+): (.*?)( = \.\.\.)?$", line)
            if f and not line.startswith("def "):
                name, annotation = f.group(1), f.group(2)
                key = f"{cls.name}#{name}"
                if key in self.overrides:
                    if key not in replaced:
                        replaced.add(key)
                        out += [f"    {d}" for d in self.overrides[key] if d != "-"]
                    continue
                static = annotation.startswith("typing.ClassVar[")
                if static:
                    annotation = annotation[len("typing.ClassVar[") : -1]
                try:
                    t = self.jtype(annotation, cls.module, typevars)
                except Unresolvable:
                    continue
                if kind == "enum" and static and t == cls.name:
                    constants.append(name)
                elif static:
                    out.append(f"    public static final {t} {name} = stubsupport.Stub.v();")
                elif kind != "interface":
                    out.append(f"    public {t} {name};")
                continue
            d = re.match(r"def (\w+)\((.*)\) -> (.*): \.\.\.$", line)
            if not d:
                continue
            name, args, ret = d.groups()
            key = f"{cls.name}#{name}"
            if key in self.overrides:
                if key not in replaced:
                    replaced.add(key)
                    out += [
                        f"    {x} {{ throw new UnsupportedOperationException(); }}"
                        for x in self.overrides[key]
                        if x != "-"
                    ]
                continue
            if (
                name in JAVA_KEYWORDS
                or (name.endswith("_") and name != "__init__")
                or (kind == "enum" and name in ("values", "valueOf"))
            ):
                continue
            static = "@staticmethod" in decorators
            method_vars = {k: v for k, v in typevars.items() if re.match(rf"_{name}(_\d+)?__", k)}
            local = {**typevars, **method_vars}
            try:
                params = []
                for index, arg in enumerate(a for a in split_top(args) if a not in ("self", "/")):
                    varargs = arg.startswith("*")
                    pname, _, ptype = arg.lstrip("*").partition(":")
                    t = self.jtype(ptype, cls.module, local)
                    pname = pname.strip()
                    if pname in JAVA_KEYWORDS or not pname.isidentifier():
                        pname = f"arg{index}"
                    params.append(f"{t}... {pname}" if varargs else f"{t} {pname}")
                rtype = self.jtype(ret, cls.module, local, ret=True)
            except Unresolvable:
                continue
            used = {}
            for k, v in method_vars.items():
                if re.search(rf"\b{k}\b", line):
                    bound = BOUNDS.get((cls.module, k))
                    try:
                        used[v] = f"{v} extends {self.jtype(bound, cls.module, typevars)}" if bound else v
                    except Unresolvable:
                        used[v] = v
            generic = f"<{', '.join(used.values())}> " if used else ""
            if name == "__init__":
                if kind != "class":
                    continue
                sig = f"public {simple}({', '.join(params)})"
                body = "{ throw new UnsupportedOperationException(); }"
                sig = f"public {generic}{simple}({', '.join(params)})"
            else:
                erased = re.sub(r"<[^<>]*>", "", ", ".join(p.rsplit(" ", 1)[0] for p in params))
                erased = re.sub(r"<[^<>]*>", "", erased)
                if (name, erased, static) in seen:
                    continue
                seen.add((name, erased, static))
                prefix = "static " if static else ("default " if kind == "interface" and not self._sam(cls) else "")
                sig = f"public {prefix}{generic}{rtype} {name}({', '.join(params)})"
                body = "{ throw new UnsupportedOperationException(); }"
                if kind == "interface" and not static and self._sam(cls):
                    out.append(f"    {generic}{rtype} {name}({', '.join(params)});")
                    continue
            out.append(f"    {sig} {body}")
        return out, constants

    def _sam(self, cls: PyClass) -> bool:
        """Interfaces with exactly one instance method stay abstract (Kotlin's SAM conversion needs it)."""
        methods = [
            line for decorators, line in cls.lines if line.startswith("def ") and "@staticmethod" not in decorators
        ]
        return len(methods) == 1


def read_api(path: Path) -> dict[str, str]:
    api = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            kind, name = line.split()
            api[name] = kind
    return api


def read_overrides(path: Path) -> dict[str, list[str]]:
    overrides: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, declaration = line.split("\t", 1)
            overrides.setdefault(key, []).append(declaration.strip())
    return overrides


def generate(stub_roots: list[Path], here: Path, out: Path) -> list[Path]:
    generator = Generator(stub_roots, read_api(here / "api.txt"), read_overrides(here / "overrides.txt"))
    written = []
    for relative, source in generator.java_sources().items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source.replace("stubsupport.Stub.v()", "stubsupport.Stub.v()"))
        written.append(path)
    return written
