// The sluice extension: starts `sluice lsp` over stdio for Python and SQL documents
// and tells it about files changed on disk. Everything else (project discovery,
// diagnostics) is the server's job.
import * as vscode from "vscode";
import {
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

/** The files whose changes on disk matter to a sluice project (`sluice lsp` reads them). */
const WATCHED = ["**/*.py", "**/*.sql", "**/sluice.toml", "**/bauplan_project.{yml,yaml}"];

/** The running server: its client and the file watchers it reports from. */
interface Running {
  client: LanguageClient;
  watchers: vscode.FileSystemWatcher[];
}

let running: Running | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand("sluice.restartServer", restart),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("sluice.path")) {
        void restart();
      }
    }),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await stop();
}

/** The executable to run: the `sluice.path` setting, else `sluice` on `PATH`. */
function sluicePath(): string {
  const configured = vscode.workspace.getConfiguration("sluice").get<string>("path", "sluice");
  return configured.trim() === "" ? "sluice" : configured.trim();
}

async function start(): Promise<void> {
  const command = sluicePath();
  const serverOptions: ServerOptions = {
    command,
    args: ["lsp"],
    transport: TransportKind.stdio,
  };
  const watchers = WATCHED.map((glob) => vscode.workspace.createFileSystemWatcher(glob));
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "python" },
      { scheme: "file", language: "sql" },
    ],
    synchronize: { fileEvents: watchers },
  };
  const client = new LanguageClient("sluice", "sluice", serverOptions, clientOptions);
  // The client only listens to the watchers; they are ours to dispose (in `stop`).
  running = { client, watchers };
  try {
    await client.start();
  } catch (error) {
    await stop();
    const message = error instanceof Error ? error.message : String(error);
    void vscode.window.showErrorMessage(
      `sluice: could not start \`${command} lsp\` (${message}). ` +
        "Install sluice or set `sluice.path` to its executable.",
    );
  }
}

async function stop(): Promise<void> {
  const current = running;
  running = undefined;
  if (current === undefined) {
    return;
  }
  try {
    if (current.client.needsStop()) {
      await current.client.stop();
    }
  } finally {
    current.watchers.forEach((watcher) => watcher.dispose());
  }
}

async function restart(): Promise<void> {
  await stop();
  await start();
}
