// The seed's Test echo: `bpclient execute --method example.Test --data hello` answers the parameters it was sent
// and who sent them. Install: `bpbroker install-extension --script extensions/example.mjs`.

/** @param {import('bpbroker/extension').RequestHandler} rh */
export function Test(rh) {
  // A successful answer: rh.data (a value is sent as JSON, a string as it is).
  rh.data = { ...rh.qs, src: rh.requestingHost() };
  // An error answer instead would be:
  // rh.status = 500;
  // rh.statusMessage = 'End client visible message text explaining 500 error';
}

/** Private helpers start with `_`: clients get 401 Unauthorized method. */
export function _helper() {
  return 'not callable';
}
