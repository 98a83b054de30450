// Module resolution hook installed by register.js: lets `import 'cronium'` find this
// package from any script, as NODE_PATH does for `require('cronium')` (ES modules ignore
// NODE_PATH). A `cronium` the script can resolve itself (its own node_modules) wins.
const ENTRY = new URL('./index.mjs', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (specifier !== 'cronium') return nextResolve(specifier, context);
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    return { url: ENTRY, format: 'module', shortCircuit: true };
  }
}
