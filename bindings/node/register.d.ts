// Types of the global `cronium` that register.js (preloaded by `cronium run`) defines for
// scripts written for the old helpers. A typed script opts in with
// `import type {} from 'cronium/register'`.
import type { LegacyCronium } from './index.js';

declare global {
  // eslint-disable-next-line no-var
  var cronium: LegacyCronium;
}

export {};
