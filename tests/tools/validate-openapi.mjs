#!/usr/bin/env node
// Validates OpenAPI documents against the official OpenAPI JSON Schemas (bundled by
// @seriousme/openapi-schema-validator), then checks what those schemas cannot express: every
// local $ref resolves, every {variable} of a path is a path parameter of each of its operations
// and the other way round, and operationIds are unique. Documents must be OpenAPI 3.0.
//
// Usage: node validate-openapi.mjs [--expect-invalid] FILE...
//   Exit 0 when every file is valid (with --expect-invalid: when every file is rejected), 1
//   otherwise, 2 on a usage or set-up error. Before the files, the validator must accept a
//   minimal document and reject a broken one, so a validator that accepts anything fails too.
import { readFile } from "node:fs/promises";

let Validator;
try {
  ({ Validator } = await import("@seriousme/openapi-schema-validator"));
} catch (error) {
  console.error(
    "validate-openapi: cannot load @seriousme/openapi-schema-validator; run `npm ci` in " +
      `tests/tools (scripts/setup does): ${error.message}`,
  );
  process.exit(2);
}

const args = process.argv.slice(2);
const expectInvalid = args[0] === "--expect-invalid";
const files = expectInvalid ? args.slice(1) : args;
if (files.length === 0) {
  console.error("usage: node validate-openapi.mjs [--expect-invalid] FILE...");
  process.exit(2);
}

const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

// Problems the OpenAPI JSON Schema does not catch; returns error strings.
function semanticErrors(doc) {
  const errors = [];
  const resolve = (ref) => {
    if (!ref.startsWith("#/")) return true;  // external references are not ours to check
    let node = doc;
    for (const raw of ref.slice(2).split("/")) {
      const key = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
      if (node === null || typeof node !== "object" || !(key in node)) return false;
      node = node[key];
    }
    return true;
  };
  const walk = (node, where) => {
    if (Array.isArray(node)) {
      node.forEach((child, i) => walk(child, `${where}/${i}`));
    } else if (node !== null && typeof node === "object") {
      if (typeof node.$ref === "string" && !resolve(node.$ref)) {
        errors.push(`${where}: $ref ${node.$ref} does not resolve`);
      }
      for (const [key, child] of Object.entries(node)) walk(child, `${where}/${key}`);
    }
  };
  walk(doc, "#");

  const operationIds = new Map();
  const noteId = (id, where) => {
    if (id === undefined) return;
    if (operationIds.has(id)) {
      errors.push(`${where}: operationId ${id} also used at ${operationIds.get(id)}`);
    }
    operationIds.set(id, where);
  };
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    const variables = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (!op) continue;
      const where = `${method.toUpperCase()} ${path}`;
      noteId(op.operationId, where);
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])];
      const declared = params.filter((p) => p.in === "path").map((p) => p.name).sort();
      if (JSON.stringify(declared) !== JSON.stringify(variables)) {
        errors.push(
          `${where}: path parameters [${declared}] do not match the template's [${variables}]`,
        );
      }
      const seen = new Set();
      for (const p of params) {
        const key = `${p.in}:${p.name}`;
        if (seen.has(key)) errors.push(`${where}: parameter ${key} is declared twice`);
        seen.add(key);
      }
    }
  }
  for (const entry of [
    ...(doc["x-aurora-custom-methods"] ?? []),
    ...(doc["x-aurora-shadowed-routes"] ?? []),
  ]) {
    noteId(entry.operation?.operationId, `${entry.method} ${entry.template ?? entry.path}`);
  }
  return errors;
}

// Paths that differ only in their variable names, which OpenAPI calls identical: legal for
// google.api.http (the variables' patterns tell them apart), worth a warning here.
function warnings(doc) {
  const byShape = new Map();
  for (const path of Object.keys(doc.paths ?? {})) {
    const shape = path.replace(/\{[^}]+\}/g, "{}");
    byShape.set(shape, [...(byShape.get(shape) ?? []), path]);
  }
  return [...byShape.values()]
    .filter((paths) => paths.length > 1)
    .map((paths) => `templated paths identical for OpenAPI: ${paths.join(", ")}`);
}

async function check(document) {
  const validator = new Validator();
  const result = await validator.validate(document);
  if (!result.valid) {
    return { errors: [JSON.stringify(result.errors, null, 1)], warnings: [] };
  }
  if (validator.version !== "3.0") {
    return { errors: [`OpenAPI ${validator.version}, expected 3.0`], warnings: [] };
  }
  return { errors: semanticErrors(document), warnings: warnings(document) };
}

// The validator itself: a minimal document must pass and broken ones must not.
const minimal = {
  openapi: "3.0.3",
  info: { title: "t", version: "1" },
  paths: {
    "/v1/{id}": {
      get: {
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
        responses: { 200: { description: "ok" } },
      },
    },
  },
};
const broken = [
  (d) => delete d.paths["/v1/{id}"].get.responses,
  (d) => (d.paths["/v1/{id}"].get.parameters[0].required = false),
  (d) => (d.paths["/v1/{id}"].get.parameters[0].schema.type = "record"),
  (d) => (d.paths["/v1/{id}"].get.parameters[0].name = "other"),
  (d) => (d.paths["/v1/{id}"].get.responses[200].content = {
    "application/json": { schema: { $ref: "#/components/schemas/Missing" } },
  }),
];
if ((await check(structuredClone(minimal))).errors.length > 0) {
  console.error("validate-openapi: self-check failed: a minimal valid document was rejected");
  process.exit(2);
}
for (const [i, mutate] of broken.entries()) {
  const doc = structuredClone(minimal);
  mutate(doc);
  if ((await check(doc)).errors.length === 0) {
    console.error(`validate-openapi: self-check failed: broken document ${i} was accepted`);
    process.exit(2);
  }
}

let failed = false;
for (const file of files) {
  let document;
  try {
    document = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    console.error(`${file}: not readable JSON: ${error.message}`);
    failed = true;
    continue;
  }
  const { errors, warnings: notes } = await check(document);
  for (const note of notes) console.log(`${file}: warning: ${note}`);
  if (expectInvalid) {
    if (errors.length === 0) {
      console.error(`${file}: accepted, but it was expected to be rejected`);
      failed = true;
    } else {
      console.log(`${file}: rejected as expected (${errors[0].split("\n").length} lines of errors)`);
    }
    continue;
  }
  if (errors.length > 0) {
    console.error(`${file}: invalid OpenAPI 3.0 document:`);
    for (const error of errors) console.error(error);
    failed = true;
    continue;
  }
  const operations = Object.values(document.paths).reduce(
    (n, item) => n + HTTP_METHODS.filter((m) => item[m]).length,
    0,
  );
  const schemas = Object.keys(document.components?.schemas ?? {}).length;
  console.log(
    `${file}: valid OpenAPI ${document.openapi} ` +
      `(${Object.keys(document.paths).length} paths, ${operations} operations, ${schemas} schemas)`,
  );
}
process.exit(failed ? 1 : 0);
