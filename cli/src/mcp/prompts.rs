//! The server's handler: its description, the resources (the language reference, the
//! diagnostic codes, a project's plan) and the prompts (new pipeline, fix these
//! diagnostics, write–audit–publish). Tools are routed by `tools.rs`.

use rmcp::model::{
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams, Prompt,
    PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};

use super::{Server, project};

const LANGUAGE_URI: &str = "sluice://docs/language.md";
const CODES_URI: &str = "sluice://diagnostic-codes";
const PLAN_PREFIX: &str = "sluice://plan/";

const INSTRUCTIONS: &str = "sluice: typed data pipelines (Python and SQL nodes with column contracts) over a versioned lake with branches. \
Work like this: `check` code before writing it (pass unsaved texts in `files`), fix diagnostics (`explain_code` explains a code), \
`create_branch` a branch of your own (e.g. agent/<task>), `run` the project on it, inspect the result with `query`, `list_tables` and `diff`, \
and report the run id and commit. Writes to protected branches (main by default) are refused: a person merges your branch into main.";

/// A prompt's argument: name, description, whether it is required.
type PromptArg = (&'static str, &'static str, bool);

/// The prompts: name, description, arguments.
const PROMPTS: &[(&str, &str, &[PromptArg])] = &[
    (
        "new_pipeline",
        "Write a new sluice pipeline: schemas, nodes, checked before it is written, run on an agent branch.",
        &[
            ("project", "the project folder", true),
            ("goal", "what the pipeline should compute", true),
        ],
    ),
    (
        "fix_diagnostics",
        "Fix the diagnostics `check` reports in a project, checking each fix before writing it.",
        &[("project", "the project folder", true)],
    ),
    (
        "write_audit_publish",
        "Write-audit-publish: run on an agent branch, audit the outputs, and leave publishing to main to a person.",
        &[
            ("project", "the project folder", true),
            ("branch", "the agent's branch (default agent/wap)", false),
        ],
    ),
];

/// The text of a prompt with its arguments filled in.
fn prompt_text(name: &str, arg: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let project = arg("project").unwrap_or_else(|| ".".to_string());
    Some(match name {
        "new_pipeline" => format!(
            "Write a sluice pipeline in the project `{project}` that does this: {goal}\n\n\
             1. Read the resource {LANGUAGE_URI} for the language: schemas are classes, sources are `Source(Schema)`, nodes are Python functions or SQL files with a `-- out: Schema <- inputs` header.\n\
             2. Draft the files and call `check` with them in `files` (nothing is written) until `summary.errors` is 0; `explain_code` explains any code.\n\
             3. Write the files, then `create_branch` a branch of your own (e.g. agent/new-pipeline) and `run` the project on it.\n\
             4. Inspect the outputs with `list_tables` and `query` on that branch, and report the run id and result commit. Do not merge into main: a person does.",
            goal = arg("goal").unwrap_or_else(|| "(the goal the user gives)".to_string())
        ),
        "fix_diagnostics" => format!(
            "Fix the diagnostics of the sluice project `{project}`.\n\n\
             1. Call `check` on it and read every diagnostic (code, file, line, column, message, help).\n\
             2. For a code you do not know, call `explain_code`.\n\
             3. Fix each one by checking the edited file first: `check` with `files` mapping its path to the new text. Only write a fix that removes the diagnostic without adding others.\n\
             4. End with a `check` whose `summary.errors` is 0, and say what you changed."
        ),
        "write_audit_publish" => {
            let branch = arg("branch").unwrap_or_else(|| "agent/wap".to_string());
            format!(
                "Write-audit-publish for the sluice project `{project}`, on the branch `{branch}`.\n\n\
                 1. Write: `create_branch` `{branch}` from main (if it does not exist), then `run` the project with branch `{branch}`. The run validates every output against its contract before it publishes to `{branch}`.\n\
                 2. Audit: `diff` main against `{branch}`, `query` the changed tables on `{branch}` (row counts, nulls, ranges), and `runs`/`run_status` for the run.\n\
                 3. Publish: do not merge into main yourself (the server refuses it). Report the run id, the result commit and your audit, and ask a person to merge `{branch}` into main."
            )
        }
        _ => return None,
    })
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new("sluice", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new(LANGUAGE_URI, "language.md")
                .with_title("The sluice language reference")
                .with_mime_type("text/markdown"),
            Resource::new(CODES_URI, "diagnostic-codes")
                .with_title("Every diagnostic code: code, severity, title")
                .with_mime_type("application/json"),
        ]))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(format!("{PLAN_PREFIX}{{+project}}"), "plan")
                .with_title("The typed plan of a project (its folder, as the tools take it)")
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        let (text, mime) = if uri == LANGUAGE_URI {
            (project::LANGUAGE_MD.to_string(), "text/markdown")
        } else if uri == CODES_URI {
            (pretty(&project::codes()), "application/json")
        } else if let Some(dir) = uri.strip_prefix(PLAN_PREFIX) {
            let dir = std::path::PathBuf::from(dir);
            let plan = tokio::task::spawn_blocking(move || project::plan(&dir))
                .await
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            match plan {
                Ok(v) => (pretty(&v), "application/json"),
                Err(e) => {
                    let data = e.to_json();
                    return Err(ErrorData::invalid_params(e.message, Some(data)));
                }
            }
        } else {
            return Err(ErrorData::resource_not_found(
                format!("no resource `{uri}` (see resources/list)"),
                None,
            ));
        };
        let contents = ResourceContents::text(text, uri).with_mime_type(mime);
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let prompts = PROMPTS
            .iter()
            .map(|(name, description, args)| {
                let args = args
                    .iter()
                    .map(|(n, d, required)| {
                        PromptArgument::new(*n)
                            .with_description(*d)
                            .with_required(*required)
                    })
                    .collect();
                Prompt::new(*name, Some(*description), Some(args))
            })
            .collect();
        Ok(ListPromptsResult::with_all_items(prompts))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let arg = |k: &str| args.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let text = prompt_text(&request.name, &arg).ok_or_else(|| {
            ErrorData::invalid_params(
                format!(
                    "no prompt `{}` (the prompts: new_pipeline, fix_diagnostics, write_audit_publish)",
                    request.name
                ),
                None,
            )
        })?;
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).into())
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}
