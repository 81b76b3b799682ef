// Validate a Teams app manifest against the official JSON schema bundled in @microsoft/app-manifest,
// offline. Usage: node validate_manifest.js <manifest.json> <schema.json>; prints the errors as JSON.
const fs = require("fs");
const { ManifestUtil } = require("@microsoft/app-manifest");

const manifest = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const schema = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
ManifestUtil.validateManifestAgainstSchema(manifest, schema).then((errors) => {
  process.stdout.write(JSON.stringify(errors));
  process.exit(errors.length ? 1 : 0);
});
