// How every runtime prints its result: failures, a summary line and one machine-readable line that
// run.mjs reads. Portable: console only.
export const RESULT_MARKER = 'PORTABILITY_RESULT ';

export function report(label, result, print = (line) => console.log(line)) {
  for (const failure of result.failures) print(`FAIL ${failure.name}: ${failure.message}`);
  print(`${label}: ${result.passed} passed, ${result.failed} failed`);
  print(RESULT_MARKER + JSON.stringify(result));
}
