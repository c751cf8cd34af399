//! SQL over the lake as of a ref: every table of the commit is registered in
//! a DataFusion session as a Parquet listing table over exactly the
//! snapshot's files, read through the lake's own object store.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::catalog::empty::EmptyTable;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use crate::error::{LakeError, Result};
use crate::lake::Lake;
use crate::model::DataFile;

/// The URL under which the lake's data store is registered in DataFusion.
const LAKE_URL: &str = "sluice://lake/";

fn df_err(e: impl std::fmt::Display) -> LakeError {
    LakeError::Query(e.to_string())
}

/// The schema DataFusion itself would infer from the Parquet files: with
/// `schema_force_view_types` (on by default) string and binary columns are
/// read as `Utf8View`/`BinaryView`, which is markedly faster for grouping.
fn view_types(schema: &arrow_schema::Schema) -> arrow_schema::Schema {
    use arrow_schema::{DataType, Field};
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let t = match f.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 => DataType::Utf8View,
                DataType::Binary | DataType::LargeBinary => DataType::BinaryView,
                other => other.clone(),
            };
            f.as_ref().clone().with_data_type(t)
        })
        .collect();
    arrow_schema::Schema::new(fields)
}

/// How SQL names a lake table: `orders` bare, `raw.orders` as table `orders` of
/// schema `raw` (the name [`Lake::register_files`] registers it under).
pub fn table_reference(name: &str) -> datafusion::common::TableReference {
    match crate::model::split_table_name(name) {
        (Some(namespace), table) => datafusion::common::TableReference::partial(namespace, table),
        (None, table) => datafusion::common::TableReference::bare(table),
    }
}

/// The fully qualified name (`catalog.schema.table`) SQL resolves `r` to in `ctx`.
fn resolved(ctx: &SessionContext, r: datafusion::common::TableReference) -> String {
    let state = ctx.state();
    let options = &state.config().options().catalog;
    r.resolve(&options.default_catalog, &options.default_schema)
        .to_string()
}

impl Lake {
    /// Registers the lake's data store in `ctx` (needed once before
    /// [`Lake::register_files`]).
    pub fn register_store(&self, ctx: &SessionContext) -> Result<()> {
        ctx.register_object_store(&lake_url()?, self.data().object_store());
        Ok(())
    }

    /// Registers `files` (of one snapshot or staged table with `schema`) as the
    /// read-only table `name` of `ctx`. Call [`Lake::check_files`] first: a
    /// missing file would read as no rows. String and binary columns are read as
    /// view types, as DataFusion does by default.
    pub fn register_files(
        &self,
        ctx: &SessionContext,
        name: &str,
        schema: &arrow_schema::Schema,
        files: &[crate::model::DataFile],
    ) -> Result<()> {
        register_files_under(ctx, &lake_url()?, name, schema, files)
    }

    /// [`Lake::register_files`] with the files read under `data_url`, the data
    /// store's root as `ctx` reaches it (e.g. [`crate::DataStore::root_url`] in a
    /// session of a cluster whose processes resolve it); no [`Lake::register_store`]
    /// needed.
    pub fn register_files_at(
        &self,
        ctx: &SessionContext,
        data_url: &url::Url,
        name: &str,
        schema: &arrow_schema::Schema,
        files: &[crate::model::DataFile],
    ) -> Result<()> {
        register_files_under(ctx, data_url, name, schema, files)
    }

    /// A DataFusion session in which every table of `reference` is
    /// registered under its name (read-only: the session sees exactly the
    /// snapshot files of that commit). Every table's files are checked first
    /// ([`Lake::check_files`]).
    pub async fn session_at(&self, reference: &str) -> Result<SessionContext> {
        let (ctx, tables) = self.session_unchecked(reference).await?;
        for (name, files) in tables.values() {
            self.check_files(name, reference, files).await?;
        }
        Ok(ctx)
    }

    /// The session of [`Lake::session_at`] without the file checks, and each
    /// table's files by the name SQL resolves it to.
    async fn session_unchecked(
        &self,
        reference: &str,
    ) -> Result<(SessionContext, HashMap<String, (String, Vec<DataFile>)>)> {
        let ctx = SessionContext::new();
        self.register_store(&ctx)?;
        let tables = self.register_tables(&ctx, &lake_url()?, reference).await?;
        Ok((ctx, tables))
    }

    /// Registers every table of `reference` in `ctx`, its files read under
    /// `data_url`; returns each table's files by the name SQL resolves it to.
    async fn register_tables(
        &self,
        ctx: &SessionContext,
        data_url: &url::Url,
        reference: &str,
    ) -> Result<HashMap<String, (String, Vec<DataFile>)>> {
        let commit = self.resolve(reference).await?.commit;
        let mut tables = HashMap::new();
        for (name, sid) in commit.tables() {
            let snap = self.snapshot(sid).await?;
            register_files_under(
                ctx,
                data_url,
                name,
                &snap.content.schema,
                &snap.content.files,
            )?;
            let resolved_name = resolved(ctx, table_reference(name));
            tables.insert(resolved_name, (name.clone(), snap.content.files.clone()));
        }
        Ok(tables)
    }

    /// Runs a read-only SQL query over every table as of `reference`. The
    /// files of every table the query scans are checked first: a missing or
    /// altered file is an error naming the table, the ref and the file,
    /// never an empty or short result. A query naming a table the ref does not
    /// have fails with [`LakeError::TableNotFound`] naming it as the query spells it.
    pub async fn query(&self, sql: &str, reference: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let ctx = SessionContext::new();
        self.register_store(&ctx)?;
        self.query_in(&ctx, &lake_url()?, sql, reference).await
    }

    /// [`Lake::query`] in the caller's session `ctx`, which must reach the
    /// data store at `data_url` (e.g. [`crate::DataStore::root_url`] in a
    /// session of a cluster whose processes resolve it): every table of
    /// `reference` is registered in `ctx` as its files under `data_url`, then
    /// the query runs with the same checks and errors as [`Lake::query`].
    pub async fn query_in(
        &self,
        ctx: &SessionContext,
        data_url: &url::Url,
        sql: &str,
        reference: &str,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let tables = self.register_tables(ctx, data_url, reference).await?;
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = match ctx.sql_with_options(sql, options).await {
            Ok(df) => df,
            Err(e) => {
                return Err(match unknown_table(ctx, sql) {
                    Some(table) => LakeError::TableNotFound {
                        table,
                        reference: reference.to_string(),
                    },
                    None => df_err(e),
                });
            }
        };
        let mut scanned = BTreeSet::new();
        df.logical_plan()
            .apply_with_subqueries(|node| {
                if let LogicalPlan::TableScan(scan) = node {
                    scanned.insert(resolved(ctx, scan.table_name.clone()));
                }
                Ok(TreeNodeRecursion::Continue)
            })
            .map_err(df_err)?;
        for resolved in &scanned {
            if let Some((name, files)) = tables.get(resolved) {
                self.check_files(name, reference, files).await?;
            }
        }
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(df_err)?;
        Ok((schema, batches))
    }
}

/// The URL the lake's own sessions reach its data store under ([`Lake::register_store`]).
fn lake_url() -> Result<url::Url> {
    url::Url::parse(LAKE_URL).map_err(df_err)
}

/// [`Lake::register_files`] with the files read under `data_url`, the data
/// store's root as `ctx` reaches it.
fn register_files_under(
    ctx: &SessionContext,
    data_url: &url::Url,
    name: &str,
    schema: &arrow_schema::Schema,
    files: &[DataFile],
) -> Result<()> {
    let schema: SchemaRef = Arc::new(view_types(schema));
    let table: Arc<dyn datafusion::catalog::TableProvider> = if files.is_empty() {
        // No rows: an empty table, which (unlike an in-memory one) a session can send
        // to a cluster.
        Arc::new(EmptyTable::new(schema))
    } else {
        let paths = files
            .iter()
            .map(|f| {
                let url = data_url.join(&f.path).map_err(df_err)?;
                ListingTableUrl::parse(url.as_str()).map_err(df_err)
            })
            .collect::<Result<Vec<_>>>()?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(paths)
            .with_listing_options(options)
            .with_schema(schema);
        Arc::new(ListingTable::try_new(config).map_err(df_err)?)
    };
    if let (Some(namespace), _) = crate::model::split_table_name(name) {
        // `raw.orders` is table `orders` of schema `raw` in SQL: make sure the
        // schema exists in the session's default catalog.
        let catalog_name = ctx
            .state()
            .config()
            .options()
            .catalog
            .default_catalog
            .clone();
        let catalog = ctx
            .catalog(&catalog_name)
            .ok_or_else(|| df_err(format!("the session has no catalog `{catalog_name}`")))?;
        if catalog.schema(namespace).is_none() {
            catalog
                .register_schema(namespace, Arc::new(MemorySchemaProvider::new()))
                .map_err(df_err)?;
        }
    }
    let reference = table_reference(name);
    ctx.register_table(reference, table).map_err(df_err)?;
    Ok(())
}

/// The first table `sql` reads that `ctx` does not have, as the query spells it
/// (CTE names are not tables). `None` when the SQL does not parse, is not a query,
/// or every table exists: the planner's own error then stands.
fn unknown_table(ctx: &SessionContext, sql: &str) -> Option<String> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state.sql_to_statement(sql, &dialect).ok()?;
    // Only a query reads tables; DDL and DML keep their refusal.
    let datafusion::sql::parser::Statement::Statement(inner) = &statement else {
        return None;
    };
    if !matches!(
        **inner,
        datafusion::sql::sqlparser::ast::Statement::Query(_)
    ) {
        return None;
    }
    let references = state.resolve_table_references(&statement).ok()?;
    references
        .into_iter()
        .find(|r| !matches!(ctx.table_exist(r.clone()), Ok(true)))
        .map(|r| r.to_string())
}
