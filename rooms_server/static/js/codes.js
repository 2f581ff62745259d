// Short join codes as people type them: any case, with spaces or dashes (the server ignores both
// too). Pure, so that tests/js can check it.

// The server's alphabet: no 0/O, 1/I/L look-alikes.
export const CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/** "k7m-p3q " → "K7MP3Q"; look-alike letters a person may type for digits become those digits. */
export function normalizeCode(text) {
  return String(text)
    .toUpperCase()
    .replace(/[\s-]+/g, "")
    .replace(/O/g, "0")
    .replace(/[IL]/g, "1");
}

/** Why this cannot be a code, or null when it may be one (the server has the last word). */
export function codeProblem(code) {
  if (!code) return "Type the code shown under the room's QR code.";
  if (code.length < 6 || code.length > 8) return "A room code has 6 to 8 characters.";
  if ([...code].some((c) => !CODE_ALPHABET.includes(c))) {
    return "That is not a room code: codes use only the letters and digits shown under the QR code (no 0, 1, O, I or L).";
  }
  return null;
}

/** "K7MP3Q" → "K7M P3Q": easier to read aloud across a room. */
export function spacedCode(code) {
  if (!code) return "";
  const half = Math.ceil(code.length / 2);
  return `${code.slice(0, half)} ${code.slice(half)}`;
}
