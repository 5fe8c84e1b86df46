// Validates rendered Kubernetes manifests (the output of `kubectl kustomize`) offline:
//
//  1. every object against the Kubernetes (or prometheus-operator) schema of its apiVersion and
//     kind, from the npm packages kubernetes-models and @kubernetes-models/prometheus-operator;
//  2. no unknown fields: those schemas allow extra properties, so every key of every object is
//     probed (see unknownFields below) and a key the schema does not know is an error;
//  3. the project's deployment policy for Aurora workloads (k8s-policy.mjs).
//
// Usage: node validate-k8s.mjs FILE...                 every FILE must pass
//        node validate-k8s.mjs --expect-invalid FILE...  every FILE must be rejected; a FILE's
//            lines "# expect: TEXT" each name a text its errors must contain
// Each FILE is checked on its own (cross-object checks, e.g. a PDB per workload, stay in it).
// Exit 0: as expected; 1: not as expected; 2: bad usage or unreadable input.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { checkPolicy } from "./k8s-policy.mjs";

// apiVersion -> module folders holding one model class per kind.
function modulePaths(apiVersion, kind) {
  if (!/^[A-Za-z0-9]+$/.test(kind)) return [];
  if (apiVersion === "monitoring.coreos.com/v1" || apiVersion === "monitoring.coreos.com/v1alpha1") {
    return [`@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`];
  }
  if (!/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) return [];
  return [`kubernetes-models/${apiVersion}/${kind}`];
}

const modelCache = new Map();
async function loadModel(apiVersion, kind) {
  const key = `${apiVersion} ${kind}`;
  if (modelCache.has(key)) return modelCache.get(key);
  let model = null;
  for (const path of modulePaths(apiVersion, kind)) {
    try {
      const mod = await import(path);
      if (typeof mod[kind] === "function") model = mod[kind];
    } catch {
      // not this package
    }
    if (model) break;
  }
  modelCache.set(key, model);
  return model;
}

// The schema errors of `data` for `Model` (empty when valid).
function schemaErrors(Model, data) {
  try {
    new Model(data).validate();
    return [];
  } catch (error) {
    if (Array.isArray(error.errors)) return error.errors;
    throw error;
  }
}

function pointer(path) {
  return path.map((p) => "/" + String(p).replaceAll("~", "~0").replaceAll("/", "~1")).join("");
}

// Keys the schema does not know. The compiled schemas check only the properties they declare,
// so a key is known exactly when putting a value no typed schema accepts (NaN: not an integer,
// number, string, boolean, object, array or null) at that key makes validation fail there.
// Map-valued fields (labels, resources.limits) are typed per value, so their keys count as
// known; a field declared without any type (free-form) would be reported, and is allowed by
// FREE_FORM below.
const FREE_FORM = [
  // none needed so far: add "<kind>:/json/pointer/prefix" entries when an object has one
];

function unknownFields(Model, root, kind) {
  const found = [];
  const walk = (node, path) => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, [...path, i]));
      return;
    }
    if (node === null || typeof node !== "object") return;
    for (const key of Object.keys(node)) {
      const here = [...path, key];
      const where = pointer(here);
      if (FREE_FORM.some((entry) => `${kind}:${where}`.startsWith(entry))) continue;
      const saved = node[key];
      node[key] = NaN;
      let errors;
      try {
        errors = schemaErrors(Model, root);
      } finally {
        node[key] = saved;
      }
      if (!errors.some((e) => e.instancePath === where || e.instancePath.startsWith(where + "/"))) {
        found.push(where);
        continue;  // nothing below an unknown key is checked
      }
      walk(saved, here);
    }
  };
  walk(root, []);
  return found;
}

function describe(obj) {
  const ns = obj?.metadata?.namespace ? `${obj.metadata.namespace}/` : "";
  return `${obj?.kind ?? "?"} ${ns}${obj?.metadata?.name ?? "?"}`;
}

// All problems of one file's objects, as lines of text.
async function validateFile(file) {
  const text = readFileSync(file, "utf8");
  const problems = [];
  const objects = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) {
      problems.push(`${file}: YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    objects.push(obj);
  }
  if (objects.length === 0) problems.push(`${file}: no objects`);
  for (const obj of objects) {
    const name = describe(obj);
    if (typeof obj !== "object" || Array.isArray(obj)) {
      problems.push(`${file}: a document is not an object`);
      continue;
    }
    const Model = await loadModel(obj.apiVersion, obj.kind);
    if (!Model) {
      problems.push(`${name}: no schema for apiVersion ${obj.apiVersion} kind ${obj.kind}`);
      continue;
    }
    const errors = schemaErrors(Model, obj);
    for (const e of errors) {
      problems.push(`${name}: schema: ${e.instancePath || "/"} ${e.message ?? e.keyword} ` +
                    JSON.stringify(e.params ?? {}));
    }
    if (errors.length === 0) {
      for (const where of unknownFields(Model, obj, obj.kind)) {
        problems.push(`${name}: unknown field ${where}`);
      }
    }
  }
  for (const p of checkPolicy(objects)) problems.push(p);
  return { problems, objects: objects.length };
}

async function main(argv) {
  let expectInvalid = false;
  const files = [];
  for (const arg of argv) {
    if (arg === "--expect-invalid") expectInvalid = true;
    else if (arg.startsWith("--")) {
      console.error(`validate-k8s: unknown option ${arg}`);
      return 2;
    } else files.push(arg);
  }
  if (files.length === 0) {
    console.error("usage: validate-k8s.mjs [--expect-invalid] FILE...");
    return 2;
  }
  let failed = false;
  for (const file of files) {
    let result;
    try {
      result = await validateFile(file);
    } catch (error) {
      console.error(`${file}: ${error.message}`);
      return 2;
    }
    const { problems, objects } = result;
    if (!expectInvalid) {
      if (problems.length) {
        failed = true;
        console.log(`FAIL ${file} (${objects} objects):`);
        for (const p of problems) console.log(`  ${p}`);
      } else {
        console.log(`ok   ${file}: ${objects} objects valid`);
      }
      continue;
    }
    const expected = [...readFileSync(file, "utf8").matchAll(/^# expect: (.+)$/gm)]
      .map((m) => m[1].trim());
    const all = problems.join("\n");
    const missing = expected.filter((text) => !all.includes(text));
    if (problems.length === 0) {
      failed = true;
      console.log(`FAIL ${file}: accepted, but it is invalid`);
    } else if (missing.length) {
      failed = true;
      console.log(`FAIL ${file}: rejected, but not for ${missing.map((m) => `"${m}"`).join(", ")}:`);
      for (const p of problems) console.log(`  ${p}`);
    } else {
      console.log(`ok   ${file}: rejected (${problems.length} problems), as expected:`);
      for (const p of problems) console.log(`  ${p}`);
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
