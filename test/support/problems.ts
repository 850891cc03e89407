import * as assert from "node:assert/strict";
import { ConfigError, type Problem, validateStackConfig } from "../../components/config";
import { findEcho } from "./echo";

/**
 * Validation helpers for config tests: the problems a config has (failing if it is accepted or
 * anything but ConfigError is thrown), checking that no message carries any part of the password.
 */
export function problemsFinder(password: string) {
    function problems(raw: unknown): Problem[] {
        try {
            validateStackConfig(raw);
        } catch (err) {
            assert.ok(err instanceof ConfigError, `threw ${String(err)}`);
            const echo = findEcho(err.message, [password]);
            assert.equal(echo, undefined, `the message carries ${JSON.stringify(echo)} of the password`);
            return err.problems;
        }
        assert.fail("config was accepted");
    }

    function problemAt(raw: unknown, path: string): Problem {
        const all = problems(raw);
        const found = all.find((p) => p.path === path);
        assert.ok(found, `no problem at ${path}; got ${JSON.stringify(all)}`);
        return found;
    }

    return { problems, problemAt };
}
