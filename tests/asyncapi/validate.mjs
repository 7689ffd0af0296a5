// Validate an AsyncAPI document (JSON or YAML file) with the official parser.
//
// Usage: node validate.mjs DOCUMENT
// The parser comes from $ASYNCAPI_PARSER_MODULES (a node_modules folder; by
// default the repository's .cache/npm/node_modules, where scripts/test installs it).
// Prints one JSON object: {"file", "parser", "asyncapi", "valid", "counts", "diagnostics"},
// and exits 0 when the document parsed, 1 when the parser rejected it, 2 on usage errors.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = process.env.ASYNCAPI_PARSER_MODULES || join(here, "..", "..", ".cache", "npm", "node_modules");
const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.mjs DOCUMENT");
  process.exit(2);
}

// The parser lives outside this folder's resolution path: load it by location.
const require = createRequire(join(resolve(modules), "noop.js"));
const { Parser } = require("@asyncapi/parser");
const parserVersion = require("@asyncapi/parser/package.json").version;

const SEVERITY = ["error", "warning", "information", "hint"];
const text = readFileSync(file, "utf8");
const { document, diagnostics } = await new Parser().parse(text);

const found = diagnostics.map((d) => ({
  severity: SEVERITY[d.severity] ?? String(d.severity),
  code: String(d.code),
  message: d.message,
  path: d.path.join("/"),
}));
const counts = Object.fromEntries(SEVERITY.map((name) => [name, 0]));
for (const d of found) counts[d.severity] = (counts[d.severity] ?? 0) + 1;

console.log(
  JSON.stringify(
    {
      file,
      parser: `@asyncapi/parser ${parserVersion}`,
      asyncapi: document ? document.version() : null,
      valid: document !== undefined && counts.error === 0,
      counts,
      diagnostics: found,
    },
    null,
    2,
  ),
);
process.exit(document !== undefined && counts.error === 0 ? 0 : 1);
