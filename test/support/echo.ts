/**
 * Echo checks: does a text carry any part of a password? A message may quote a fragment rather
 * than the whole value (JSON.parse quotes the first characters of its input, a YAML parser the
 * source around an error), and it may carry it escaped or base64-encoded. So every run of
 * RUN characters of the password, of its JSON-escaped form and of its base64 (at each of the
 * three byte alignments it can take inside a longer encoded text) counts.
 */
export const RUN = 8;

function runsOf(s: string, length: number): string[] {
    if (s.length <= length) {
        return [s];
    }
    return Array.from({ length: s.length - length + 1 }, (_, i) => s.slice(i, i + length));
}

/** base64 of the password as it appears inside a longer encoded text starting 0, 1 or 2 bytes earlier. */
function base64Forms(password: string): string[] {
    const bytes = Buffer.from(password, "utf8");
    return [0, 1, 2].map((shift) => {
        const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString("base64");
        // Drop the characters the preceding bytes or the padding share.
        return encoded.slice(shift === 0 ? 0 : 4, bytes.length + shift > 3 ? -4 : undefined);
    });
}

/** Every fragment whose presence in a text means the password leaked. */
export function echoFragments(password: string): string[] {
    const length = Math.min(RUN, password.length);
    const escaped = JSON.stringify(password).slice(1, -1);
    const fragments = [password, escaped, ...base64Forms(password)].flatMap((form) => runsOf(form, length));
    return [...new Set(fragments.filter((f) => f.length >= Math.min(RUN, password.length)))];
}

/** The first fragment of any of the passwords found in the text, or undefined. */
export function findEcho(text: string, passwords: string[]): string | undefined {
    for (const password of passwords) {
        const found = echoFragments(password).find((f) => text.includes(f));
        if (found !== undefined) {
            return found;
        }
    }
    return undefined;
}
