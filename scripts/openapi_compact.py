#!/usr/bin/env python3
"""Compacts Atlassian's OpenAPI documents into the table the JSM sandbox's
strict mode validates requests against (sandbox/sb_strict.h).

Usage: scripts/openapi_compact.py <platform.json> <servicedesk.json> > out.json

Keeps, per operation: family, method, path template, path and query
parameters (type, enum, items, required) and the JSON request body schema
(or the multipart marker); and the component schemas request bodies reach,
stripped of descriptions, examples and response-only detail. Output is
deterministic (sorted keys), so the build is reproducible.
"""
import json
import sys

KEEP = ("type", "enum", "properties", "required", "additionalProperties", "items", "allOf", "anyOf",
        "oneOf", "nullable", "maxLength", "minLength", "maxItems", "minItems", "minimum", "maximum")
METHODS = ("get", "put", "post", "delete", "patch")


def compact(schema, refs):
    """The schema with only validation keywords; $ref becomes {"$r": name}."""
    if isinstance(schema, list):
        return [compact(x, refs) for x in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        refs.append(name)
        return {"$r": name}
    out = {}
    for k in KEEP:
        if k not in schema:
            continue
        v = schema[k]
        if k == "properties":
            out[k] = {name: compact(s, refs) for name, s in v.items()}
        elif k == "additionalProperties" and isinstance(v, dict):
            out[k] = compact(v, refs)
        elif k in ("items",):
            out[k] = compact(v, refs)
        elif k in ("allOf", "anyOf", "oneOf"):
            out[k] = [compact(x, refs) for x in v]
        else:
            out[k] = v
    return out


def param_schema(p, spec):
    s = p.get("schema", {})
    if "$ref" in s:
        s = spec["components"]["schemas"][s["$ref"].rsplit("/", 1)[-1]]
    return s


def main():
    out = {"version": 1, "ops": [], "schemas": {}}
    for fam, path in (("platform", sys.argv[1]), ("jsm", sys.argv[2])):
        spec = json.load(open(path, encoding="utf-8"))
        schemas = spec["components"]["schemas"]
        refs = []
        for tmpl, item in sorted(spec["paths"].items()):
            shared = item.get("parameters", [])
            for method in METHODS:
                op = item.get(method)
                if not op:
                    continue
                params = {p["name"] + "@" + p["in"]: p for p in shared}
                params.update({p["name"] + "@" + p["in"]: p for p in op.get("parameters", [])})
                entry = {"f": fam, "m": method.upper(), "p": tmpl, "q": {}, "pp": {}}
                for p in params.values():
                    if p.get("in") not in ("query", "path"):
                        continue
                    ps = compact(param_schema(p, spec), refs)
                    if p.get("required"):
                        ps["req"] = True
                    entry["q" if p["in"] == "query" else "pp"][p["name"]] = ps
                body = op.get("requestBody")
                if body:
                    content = body.get("content", {})
                    if "application/json" in content:
                        entry["b"] = compact(content["application/json"].get("schema", {}), refs)
                    elif any(ct.startswith("multipart/") for ct in content):
                        entry["b"] = "multipart"
                    else:
                        entry["b"] = "any"
                    entry["br"] = bool(body.get("required"))
                if op.get("x-experimental"):
                    entry["x"] = True
                out["ops"].append(entry)
        # every schema a request reaches, transitively
        seen = set()
        while refs:
            name = refs.pop()
            key = fam + ":" + name
            if key in seen:
                continue
            seen.add(key)
            out["schemas"][key] = compact(schemas[name], refs)
        # refs inside a family's schemas name that family's components
        for e in out["ops"]:
            if e["f"] == fam:
                qualify(e, fam)
        for key in list(out["schemas"]):
            if key.startswith(fam + ":"):
                qualify(out["schemas"][key], fam)
    json.dump(out, sys.stdout, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def qualify(v, fam):
    if isinstance(v, dict):
        if "$r" in v and ":" not in v["$r"]:
            v["$r"] = fam + ":" + v["$r"]
        for x in v.values():
            qualify(x, fam)
    elif isinstance(v, list):
        for x in v:
            qualify(x, fam)


if __name__ == "__main__":
    main()
