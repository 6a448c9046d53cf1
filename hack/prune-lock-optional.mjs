// Run after `npm install` changes package-lock.json.
// The npm registry reachable here serves only the linux builds of some packages' optional
// platform binaries (e.g. unrs-resolver, pulled in by jest 30). npm leaves the others out of the
// lock, but `npm ci` still demands a lock entry for every optional edge and refuses to install.
// This drops optional edges that have no lock entry, which is what npm would skip anyway.
import fs from 'node:fs';
import { URL } from 'node:url';
import process from 'node:process';
const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
let pruned = 0;
for (const [key, pkg] of Object.entries(lock.packages)) {
  if (!pkg.optionalDependencies) continue;
  for (const dep of Object.keys(pkg.optionalDependencies)) {
    const nested = key ? `${key}/node_modules/${dep}` : `node_modules/${dep}`;
    if (!lock.packages[`node_modules/${dep}`] && !lock.packages[nested]) {
      delete pkg.optionalDependencies[dep];
      pruned++;
    }
  }
}
fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
process.stdout.write(`pruned ${pruned} optional edge(s) with no lock entry\n`);
