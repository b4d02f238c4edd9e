// Browser tests of the pages. Started by tests/browser/run (stack.py), which passes the stack's
// addresses in $YK_BROWSER_CONFIG; harness.mjs holds the helpers and the runner. Each file below
// registers its tests.
//
// Arguments: parts of test names to run only those (e.g. `node test.mjs cancel`).
import { runAll } from './harness.mjs';
import './pages.mjs';
import './console.mjs';
import './phases.mjs';

await runAll(process.argv.slice(2));
