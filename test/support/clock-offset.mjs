// Preload (`node --import ./test/support/clock-offset.mjs …`) that runs a real process with its
// wall clock shifted by FLUXER_TEST_CLOCK_OFFSET_MS: a laptop whose clock is ahead of or behind the
// nodes'. Date and Date.now move; timers and performance.now (monotonic) do not, as on a real
// machine whose wall clock is wrong.
const offset = Number(process.env.FLUXER_TEST_CLOCK_OFFSET_MS ?? 0);
if (Number.isFinite(offset) && offset !== 0) {
  const RealDate = Date;
  class SkewedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + offset);
      else super(...args);
    }
    static now() {
      return RealDate.now() + offset;
    }
  }
  globalThis.Date = SkewedDate;
}
