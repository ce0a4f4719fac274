// node minify.mjs FILE…: minifies each JavaScript module in place with terser (compress
// and mangle, class names kept: custom elements and wasm-bindgen's debug output name
// classes). Run by the xtask (xtask/src/minify.rs) on what release builds ship; the
// sources in the repository stay as written. HERALD_TERSER is terser's ES module entry.
import { readFile, writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";

const { minify } = await import(pathToFileURL(process.env.HERALD_TERSER).href);
let failed = 0;
for (const file of process.argv.slice(2)) {
  try {
    const code = await readFile(file, "utf8");
    const out = await minify(code, {
      module: true,
      ecma: 2020,
      compress: { passes: 2 },
      mangle: true,
      keep_classnames: true,
      format: { comments: false },
    });
    await writeFile(file, out.code);
  } catch (error) {
    console.error(`minify: ${file}: ${error.message ?? error}`);
    failed += 1;
  }
}
process.exit(failed ? 1 : 0);
