// Types of `import ... from 'cronium'`: the same API as require('cronium'), with the
// whole module as the default export.
import * as cronium from './index.js';

export * from './index.js';
export default cronium;
