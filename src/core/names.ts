/**
 * A host name, step id or path made safe as ONE file-name component in the state dir (artifacts,
 * backups, snapshots): anything but letters, digits, `_`, `.` and `-` becomes `_`, so a name can
 * neither climb out of its folder nor make a new one.
 */
export function safeFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}
