// A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it). On SageMaker every job has its
// own host; on one machine, local jobs that run at the same time share the loopback, so each one that opens a
// port (torchrun's rendezvous, a local server, moto in the tests) asks for its own.
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
