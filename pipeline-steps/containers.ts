import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's `containers/` folder: the Python the jobs run, and the files both sides of the definition read. */
export const CONTAINERS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'containers');
