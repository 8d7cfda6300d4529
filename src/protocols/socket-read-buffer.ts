/**
 * Reads of a data connection into one buffer of ours, reused for every read. By default Node
 * allocates a new buffer for each read of up to 64 KiB; an FTP upload of 256 MiB went through 4,000
 * to 5,000 of them, each cold in the cache when the kernel filled it and garbage soon after. With
 * the bytes written on at once from one warm buffer (net.Socket's `onread` option), a plain
 * upload's server CPU fell by about a third.
 *
 * Node offers `onread` only to sockets it constructs for the caller, not to the ones a server
 * accepts (nor to a connected one, made before the transfer knew it was an upload). So the socket's
 * handle (the private `_handle` field, touched here and nowhere else) moves into a new Socket built
 * with `onread`, and the old Socket object is closed without its handle, which keeps its server's
 * connection count right. Written for Node 20: on another
 * major version, or a socket without that field, readIntoBuffer() declines and the caller reads
 * the usual way.
 */
import { Socket } from 'node:net';

/** Node major versions whose net.Socket internals this module was written for and tested on. */
const WRITTEN_FOR = [20];

/** The version check, made once at start-up. */
export const socketReadBufferSupported = WRITTEN_FOR.includes(Number(process.versions.node.split('.')[0]));

interface SocketInternals {
  _handle: { readStart?: unknown; readStop?: unknown; reading?: unknown } | null;
}

/**
 * Moves `socket` (accepted or connected, and not read from yet: paused since it was created) to a
 * new Socket, paused, whose reads land in `buffer` once it is resumed: `onRead` gets each read's
 * bytes, a view of `buffer` that is valid only until it returns. It returns false to stop reading
 * until `resume()`. A throw from `onRead` destroys the socket with that error. Returns undefined,
 * the socket untouched, where this cannot be done safely (see the module comment); the caller then
 * reads `socket` as usual.
 */
export function readIntoBuffer(socket: Socket, buffer: Buffer, onRead: (chunk: Buffer) => boolean): { socket: Socket; resume(): void } | undefined {
  const internals = socket as unknown as SocketInternals;
  const handle = internals._handle;
  if (
    !socketReadBufferSupported ||
    !handle ||
    typeof handle.readStart !== 'function' ||
    typeof handle.readStop !== 'function' ||
    handle.reading === true ||
    !socket.isPaused() ||
    socket.readableLength > 0 ||
    socket.readableEnded ||
    socket.destroyed
  ) {
    return undefined;
  }
  internals._handle = null;
  socket.destroy(); // without a handle: only the bookkeeping (its server's count, 'close')
  const moved: Socket = new Socket({
    handle,
    pauseOnCreate: true, // reads start with the caller's resume()
    onread: {
      buffer,
      callback: (bytes: number, filled: Uint8Array): boolean => {
        try {
          return onRead((filled as Buffer).subarray(0, bytes));
        } catch (err) {
          moved.destroy(err as Error);
          return false;
        }
      },
    },
  } as ConstructorParameters<typeof Socket>[0]);
  moved.setNoDelay(true);
  return {
    socket: moved,
    // After onRead returned false the stream is still "flowing"; a pause/resume cycle starts reads again.
    resume: () => {
      if (moved.destroyed) return;
      moved.pause();
      moved.resume();
    },
  };
}
