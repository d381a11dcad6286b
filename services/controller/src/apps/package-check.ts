import { badRequest, inspectArchive, UnsafeArchiveError } from '@nap/common';

/** The content hash of an uploaded archive; an unsafe one (`..`, absolute paths, links out) is 400 and changes nothing. */
export async function inspectUpload(file: string): Promise<string> {
  try {
    return (await inspectArchive(file)).contentHash;
  } catch (err) {
    if (err instanceof UnsafeArchiveError) throw badRequest('invalid_bits', `the upload was refused: ${err.message}`);
    throw err;
  }
}
