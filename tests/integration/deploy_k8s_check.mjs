// deploy_k8s_check.mjs DIR — parses every manifest kustomization.yaml lists and validates
// each object against the Kubernetes API schema (npm kubernetes-models: the OpenAPI schemas
// of Kubernetes 1.27). Prints {"objects": [...], "errors": [...]} as JSON on stdout; the
// Python test (test_deploy.py) asserts on it and cross-checks the objects.
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";

const dir = process.argv[2];
const out = { objects: [], errors: [] };
const groups = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
};
const kust = YAML.parse(fs.readFileSync(path.join(dir, "kustomization.yaml"), "utf8"));
if (kust.kind !== "Kustomization") out.errors.push("kustomization.yaml: kind is not Kustomization");
const listed = new Set(kust.resources || []);
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")) {
  if (!listed.has(f)) out.errors.push(`${f}: not listed in kustomization.yaml resources`);
}
for (const file of listed) {
  let docs;
  try {
    docs = YAML.parseAllDocuments(fs.readFileSync(path.join(dir, file), "utf8"));
  } catch (e) {
    out.errors.push(`${file}: ${e.message}`);
    continue;
  }
  for (const doc of docs) {
    if (doc.errors.length) {
      out.errors.push(`${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
      continue;
    }
    const obj = doc.toJS();
    if (!obj) continue;
    const mod = groups[obj.apiVersion];
    if (!mod) {
      out.errors.push(`${file}: apiVersion ${obj.apiVersion} is not one this check knows`);
      continue;
    }
    const models = await import(mod);
    const Model = models[obj.kind];
    if (!Model) {
      out.errors.push(`${file}: ${obj.apiVersion} has no kind ${obj.kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      out.errors.push(`${file}: ${obj.kind}/${obj.metadata?.name}: ${e.message}`);
    }
    out.objects.push({ file, ...obj });
  }
}
process.stdout.write(JSON.stringify(out));
