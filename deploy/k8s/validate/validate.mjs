// Validates Kubernetes objects against the Kubernetes and KEDA OpenAPI schemas of the npm packages
// kubernetes-models / @kubernetes-models/keda, offline. Input on stdin: a JSON array of
// {"file": ..., "object": {...}}. Prints one line per object ("ok FILE KIND NAME" or
// "invalid FILE KIND NAME: reason") and exits 1 when any is invalid or of an unknown kind.
import { readFileSync } from "node:fs";

const groups = {
  "v1": "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "batch/v1": "kubernetes-models/batch/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "keda.sh/v1alpha1": "@kubernetes-models/keda/keda.sh/v1alpha1",
};

const input = JSON.parse(readFileSync(0, "utf8"));
let bad = 0;
for (const { file, object } of input) {
  const what = `${file} ${object.kind} ${object.metadata && object.metadata.name}`;
  const base = groups[object.apiVersion];
  let mod;
  try {
    if (!base) throw new Error(`no schema for apiVersion ${object.apiVersion}`);
    mod = await import(`${base}/${object.kind}`);
  } catch (e) {
    console.log(`invalid ${what}: unknown kind: ${e.message}`);
    bad++;
    continue;
  }
  try {
    new mod[object.kind](object).validate();
    console.log(`ok ${what}`);
  } catch (e) {
    console.log(`invalid ${what}: ${e.message.replace(/\s+/g, " ")}`);
    bad++;
  }
}
process.exit(bad ? 1 : 0);
