// How model sizes and push progress read on a terminal. Pure.

/** 1,234,567,890 → "1.23 GB" (decimal units, as S3's console and `aws s3 ls --human-readable` do not agree anyway). */
export function formatSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u += 1;
  }
  return u === 0 ? `${bytes} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

/** "[████░░░░] 1.20 GB / 2.00 GB  60%  files 3/8  150 MB/s" */
export function pushProgressLine(p: { bytesUploaded: number; bytesToUpload: number; filesDone: number; filesToUpload: number }, elapsedMs: number, width = 20): string {
  const fraction = p.bytesToUpload === 0 ? 1 : Math.min(1, p.bytesUploaded / p.bytesToUpload);
  const filled = Math.round(fraction * width);
  const rate = elapsedMs > 0 ? `  ${formatSize((p.bytesUploaded / elapsedMs) * 1000)}/s` : '';
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${formatSize(p.bytesUploaded)} / ${formatSize(p.bytesToUpload)}  ${Math.floor(fraction * 100)}%  files ${p.filesDone}/${p.filesToUpload}${rate}`;
}

export function hashProgressLine(done: number, total: number): string {
  return `Hashing ${formatSize(done)} / ${formatSize(total)}  ${total === 0 ? 100 : Math.floor((done / total) * 100)}%`;
}
