// The mutation score of each file and overall, from the reports scripts/mutate.sh keeps (one
// Stryker incremental file per source file), and the survivors with their place and change.
//   node build/scripts/lib/mutationScore.js [--dir DIR] [--break PERCENT] [--survivors] FILE...
//   node build/scripts/lib/mutationScore.js [--dir DIR] --path FILE    (where FILE's result is kept)
import * as fs from "fs";
import * as path from "path";

interface Mutant {
    id: string;
    mutatorName: string;
    replacement?: string;
    status: string;
    location: { start: { line: number; column: number } };
}
interface Report {
    files: Record<string, { mutants: Mutant[] }>;
}

/** Where scripts/mutate.sh keeps the result of one source file. */
export function reportPath(dir: string, sourceFile: string): string {
    return path.join(dir, sourceFile.replace(/\.ts$/, "").replace(/\//g, "-") + ".json");
}

const DETECTED = new Set(["Killed", "Timeout"]);
const UNDETECTED = new Set(["Survived", "NoCoverage"]);

export interface Tally {
    file: string;
    detected: number;
    survived: number;
    noCoverage: number;
    invalid: number; // compile and runtime errors: not counted in the score, as Stryker does
    survivors: Mutant[];
}

export function tally(file: string, mutants: Mutant[]): Tally {
    const t: Tally = { file, detected: 0, survived: 0, noCoverage: 0, invalid: 0, survivors: [] };
    for (const m of mutants) {
        if (DETECTED.has(m.status)) t.detected++;
        else if (UNDETECTED.has(m.status)) {
            if (m.status === "Survived") t.survived++;
            else t.noCoverage++;
            t.survivors.push(m);
        } else if (m.status !== "Ignored") t.invalid++;
    }
    return t;
}

/** Stryker's mutation score: detected / (detected + undetected), in percent. */
export function score(t: Pick<Tally, "detected" | "survived" | "noCoverage">): number {
    const valid = t.detected + t.survived + t.noCoverage;
    return valid === 0 ? 100 : (100 * t.detected) / valid;
}

function main(argv: string[]): number {
    const valueOf = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
    const threshold = Number(valueOf("--break") ?? 0);
    const dir = valueOf("--dir") ?? path.join("reports", "incremental");
    const showSurvivors = argv.includes("--survivors");
    const files = argv.filter((a, i) => !a.startsWith("--") && !["--break", "--dir"].includes(argv[i - 1]));
    if (argv.includes("--path")) {
        files.forEach((file) => console.log(reportPath(dir, file)));
        return 0;
    }
    const tallies: Tally[] = [];
    const missing: string[] = [];
    for (const file of files) {
        const report = reportPath(dir, file);
        if (!fs.existsSync(report)) {
            missing.push(file);
            continue;
        }
        // Stryker writes its report when a run ends; a file it leaves out had no mutant in the
        // lines asked for (a comment, a type): nothing to detect, not a missing result.
        const r = JSON.parse(fs.readFileSync(report, "utf8")) as Report;
        tallies.push(tally(file, r.files[file]?.mutants ?? []));
    }
    const total = tallies.reduce(
        (a, t) => ({
            detected: a.detected + t.detected,
            survived: a.survived + t.survived,
            noCoverage: a.noCoverage + t.noCoverage,
            invalid: a.invalid + t.invalid,
        }),
        { detected: 0, survived: 0, noCoverage: 0, invalid: 0 },
    );
    const row = (name: string, t: Omit<Tally, "file" | "survivors">) =>
        `| ${name} | ${score(t).toFixed(1)} | ${t.detected} | ${t.survived} | ${t.noCoverage} | ${t.invalid} |`;
    console.log("| file | score % | killed or timed out | survived | no coverage | compile errors |");
    console.log("|---|---:|---:|---:|---:|---:|");
    for (const t of tallies) console.log(row(t.file, t));
    console.log(row("**all**", total));
    if (showSurvivors) {
        for (const t of tallies) {
            for (const m of t.survivors) {
                const where = `${t.file}:${m.location.start.line}:${m.location.start.column}`;
                console.log(`${m.status} ${where} ${m.mutatorName}: ${JSON.stringify(m.replacement ?? "")}`);
            }
        }
    }
    if (missing.length > 0) {
        console.error(`mutation score: no result yet for ${missing.join(", ")} (npm run mutate -- ${missing.join(" ")})`);
        return 2;
    }
    const overall = score(total);
    if (overall < threshold) {
        console.error(`mutation score: ${overall.toFixed(1)}% is under the break threshold of ${threshold}%`);
        return 1;
    }
    return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
