/** A terminal (or a pipe, when not a TTY) that keeps what the CLI writes to it. */
export class CapturedOutput {
  text = '';
  columns = 100;
  constructor(readonly isTTY = false) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}
