let counter = 0;

/**
 * A fresh name per test (a namespace and the stack deploying it), so tests never see each
 * other's objects: a DNS-1123 label, unique per test process.
 */
export function freshName(label: string): string {
    return `ra-${label}-${process.pid.toString(36)}${(counter++).toString(36)}`;
}
