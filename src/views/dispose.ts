/** A small Disposable base (as in the custom-editor sample): `_register()` children, dispose them all once. */
import * as vscode from 'vscode';

export abstract class Disposable {
  private disposed = false;
  private readonly disposables: vscode.Disposable[] = [];

  protected get isDisposed(): boolean {
    return this.disposed;
  }

  protected _register<T extends vscode.Disposable>(d: T): T {
    if (this.disposed) d.dispose();
    else this.disposables.push(d);
    return d;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    while (this.disposables.length) {
      try {
        this.disposables.pop()!.dispose();
      } catch {
        /* keep disposing the rest */
      }
    }
  }
}
