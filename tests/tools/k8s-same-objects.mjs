// Compares two renderings of one overlay (e.g. by kustomize v2.0.3 and v5) as sets of objects:
// the order of objects and of keys may differ, nothing else. Exit 0: the same; 1: not.
// Usage: node k8s-same-objects.mjs A.yaml B.yaml
import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { parseAllDocuments } from "yaml";

function objects(file) {
  const out = new Map();
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const obj = doc.toJS();
    if (!obj) continue;
    out.set(`${obj.apiVersion} ${obj.kind} ${obj.metadata?.namespace ?? ""}/${obj.metadata?.name}`,
            obj);
  }
  return out;
}

const [a, b] = process.argv.slice(2);
if (!a || !b) {
  console.error("usage: k8s-same-objects.mjs A.yaml B.yaml");
  process.exit(2);
}
const left = objects(a);
const right = objects(b);
let same = true;
for (const [key, obj] of left) {
  if (!right.has(key)) {
    console.log(`only in ${a}: ${key}`);
    same = false;
  } else if (!isDeepStrictEqual(obj, right.get(key))) {
    console.log(`differs: ${key}\n  ${a}: ${JSON.stringify(obj)}\n  ${b}: ${JSON.stringify(right.get(key))}`);
    same = false;
  }
}
for (const key of right.keys()) {
  if (!left.has(key)) {
    console.log(`only in ${b}: ${key}`);
    same = false;
  }
}
console.log(same ? `same ${left.size} objects` : "the renderings differ");
process.exit(same ? 0 : 1);
