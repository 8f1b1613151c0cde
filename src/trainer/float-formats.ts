/**
 * The 16-bit floating-point formats of checkpoints, as bit patterns in a Uint16Array:
 * - F16, IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 fraction bits;
 * - BF16, bfloat16: 1 sign, 8 exponent (bias 127), 7 fraction bits (the top half of a float32).
 * Every value of either is a float32 value, so decoding into float32 (and float64) is exact.
 * Encoding rounds to nearest, ties to even, straight from the float64 (rounding to float32
 * first could round twice), overflows to ±Infinity, and writes NaN as the quiet NaN of its sign.
 */
export type HalfFormat = 'F16' | 'BF16';

interface Layout {
  fractionBits: number;
  exponentBits: number;
}

const LAYOUTS: Readonly<Record<HalfFormat, Layout>> = {
  F16: { fractionBits: 10, exponentBits: 5 },
  BF16: { fractionBits: 7, exponentBits: 8 },
};

const DECODED: Partial<Record<HalfFormat, Float32Array>> = {};

/** All 65,536 values of the format, indexed by bit pattern (built once). */
function table(format: HalfFormat): Float32Array {
  const known = DECODED[format];
  if (known) return known;
  const { fractionBits, exponentBits } = LAYOUTS[format];
  const bias = 2 ** (exponentBits - 1) - 1;
  const maxExponent = 2 ** exponentBits - 1;
  const values = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> fractionBits) & maxExponent;
    const fraction = bits & ((1 << fractionBits) - 1);
    values[bits] =
      exponent === maxExponent
        ? fraction === 0
          ? sign * Number.POSITIVE_INFINITY
          : Number.NaN
        : exponent === 0
          ? sign * fraction * 2 ** (1 - bias - fractionBits)
          : sign * (1 + fraction / 2 ** fractionBits) * 2 ** (exponent - bias);
  }
  DECODED[format] = values;
  return values;
}

/** The exact values of `bits`, as float32 (every F16 and BF16 value is one). */
export function decodeHalf(format: HalfFormat, bits: Uint16Array): Float32Array {
  const values = table(format);
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = values[bits[i]!]!;
  return out;
}

/** `x` rounded to the nearest value of the format (ties to even), as its bit pattern. */
export function encodeHalf(format: HalfFormat, x: number): number {
  const { fractionBits, exponentBits } = LAYOUTS[format];
  const bias = 2 ** (exponentBits - 1) - 1;
  const maxExponent = 2 ** exponentBits - 1;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  if (Number.isNaN(x)) return sign | (maxExponent << fractionBits) | (1 << (fractionBits - 1));
  const a = Math.abs(x);
  if (a === Number.POSITIVE_INFINITY) return sign | (maxExponent << fractionBits);
  if (a === 0) return sign;
  // Below the smallest normal, the unit is the subnormal step 2^(1 − bias − fractionBits); above,
  // it is 2^(e − fractionBits) for a in [2^e, 2^(e+1)). Scaling by powers of two is exact.
  const e = Math.max(exponentOf(a), 1 - bias);
  const units = roundHalfEven(a * 2 ** (fractionBits - e));
  // units counts steps of the unit from 0: a carry past 2^(fractionBits+1) moves to the next
  // binade, and the bit pattern's exponent and fraction fields run on seamlessly.
  const bits = units < 2 ** fractionBits ? units : ((e + bias) << fractionBits) + units - 2 ** fractionBits;
  return bits >= maxExponent << fractionBits ? sign | (maxExponent << fractionBits) : sign | bits;
}

/** `x` rounded to the format and back: the value a checkpoint of that dtype stores for it. */
export function roundToHalf(format: HalfFormat, x: number): number {
  return table(format)[encodeHalf(format, x)]!;
}

const scratch = new DataView(new ArrayBuffer(8));

/** ⌊log2 a⌋ for a finite a > 0, from the float64's own exponent field (Math.log2 can round). */
function exponentOf(a: number): number {
  scratch.setFloat64(0, a);
  const field = (scratch.getUint16(0) >> 4) & 0x7ff;
  if (field !== 0) return field - 1023;
  return exponentOf(a * 2 ** 64) - 64; // a float64 subnormal
}

function roundHalfEven(q: number): number {
  const floor = Math.floor(q);
  const rest = q - floor;
  return rest > 0.5 || (rest === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
}
