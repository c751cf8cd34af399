//! A lake table at a commit as an Iceberg table (format v2), zero-copy: each
//! version of the table along the commit's first parents is an Iceberg snapshot
//! whose manifest lists the very Parquet files the lake holds.
//!
//! Metadata is made lazily, on the first request for a table at a commit, and
//! kept: manifests and manifest lists under `iceberg/<lake snapshot>/` in the
//! lake's data store, named by the hash of everything they say (the table
//! version, its files and who added them, the schema with its field ids), so a
//! version already described is never described again and a name never holds
//! two different contents. The metadata JSON (`<hash>.metadata.json`) is
//! written beside its current snapshot's manifests. Nothing under `tables/` (the
//! data files) is written, moved or copied.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use iceberg::io::FileIO;
use iceberg::spec::{
    FormatVersion, ManifestFile, ManifestListWriter, ManifestWriterBuilder, NestedField, Operation,
    PartitionSpec, PrimitiveType, Schema, SchemaRef, Snapshot, SortOrder, Summary, TableMetadata,
    TableMetadataBuilder, Type,
};
use parquet::file::metadata::ParquetMetaData;
use sha2::{Digest, Sha256};
use sluice_lake::{Commit, CommitId, DataFile as LakeFile, Lake, Snapshot as LakeSnapshot};

use crate::error::{IcebergError, Result};
use crate::schema::{name_mapping, table_schema};
use crate::stats::{data_file, read_footer};

/// How many versions of a table, newest first along the ref's first parents, its
/// Iceberg metadata lists as snapshots (older versions stay readable through a
/// ref naming them: `main~5`, `@<hash>`).
pub const HISTORY: usize = 100;

/// The prefix of the Iceberg metadata files in the lake's data store.
pub const PREFIX: &str = "iceberg";

/// One version of a table: the commit that made it and the lake snapshot.
struct Version {
    commit: Commit,
    snapshot: LakeSnapshot,
}

/// A table's Iceberg metadata at a commit, and where its JSON is stored.
#[derive(Clone, Debug)]
pub struct TableAt {
    pub metadata_location: String,
    pub metadata: TableMetadata,
}

/// Makes (or finds) the Iceberg metadata of `table` at `commit`.
pub async fn table_at(lake: &Lake, commit: &Commit, table: &str) -> Result<TableAt> {
    let versions = versions(lake, commit, table).await?;
    let store = lake.data();
    let root = data_root(store);
    // Distinct schemas in order of first appearance: schema `i` gets id `i + 1`
    // in the metadata (see `build_metadata`).
    let mut schemas: Vec<SchemaRef> = Vec::new();
    let mut schema_of = Vec::new();
    for v in &versions {
        let s = table_schema(lake, table, &v.snapshot.content.schema, 0).await?;
        let id = match schemas.iter().position(|k| k.as_struct() == s.as_struct()) {
            Some(i) => i,
            None => {
                schemas.push(Arc::new(s));
                schemas.len() - 1
            }
        };
        schema_of.push(id);
    }
    let mut chain = Chain {
        lake,
        table,
        root: &root,
        footers: HashMap::new(),
        added_by: HashMap::new(),
        parent: None,
        time_ms: i64::MIN,
    };
    let mut snapshots = Vec::new();
    let mut keys = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        let schema_id = schema_of[i] as i32 + 1;
        let (snapshot, key) = chain
            .describe(v, i as i64 + 1, &schemas[schema_of[i]], schema_id)
            .await?;
        snapshots.push(snapshot);
        keys.push(key);
    }
    let current = versions.last().ok_or_else(|| {
        IcebergError::Internal(format!("table `{table}` has no version at {}", commit.id))
    })?;
    let current_schema = &schemas[*schema_of.last().unwrap_or(&0)];
    let metadata = build_metadata(
        lake,
        table,
        commit,
        &root,
        &schemas,
        current_schema,
        snapshots,
    )?;
    let meta_key = hash(&serde_json::json!({
        "format": "sluice-iceberg/1",
        "table": table,
        "commit": commit.id,
        "snapshots": keys,
    }));
    let meta_path = format!(
        "{PREFIX}/{}/{meta_key}.metadata.json",
        current.snapshot.id.as_str()
    );
    if !store.exists(&meta_path).await? {
        let json = serde_json::to_vec(&metadata)
            .map_err(|e| IcebergError::Internal(format!("metadata JSON: {e}")))?;
        store.put(&meta_path, Bytes::from(json)).await?;
    }
    Ok(TableAt {
        metadata_location: format!("{root}/{meta_path}"),
        metadata,
    })
}

/// The table's versions along `commit`'s first parents, oldest first: at most
/// [`HISTORY`], and none from before the table was last created.
async fn versions(lake: &Lake, commit: &Commit, table: &str) -> Result<Vec<Version>> {
    let mut out: Vec<Version> = Vec::new();
    let mut cur = commit.clone();
    let Some(mut sid) = cur.tables().get(table).cloned() else {
        return Err(IcebergError::NoSuchTable {
            table: table.to_string(),
            reference: commit.id.to_string(),
        });
    };
    // Walk back to the commit that made this version, record it, go on.
    loop {
        let parent = match cur.parents().first() {
            Some(p) => Some(lake.commit_by_id(p).await?),
            None => None,
        };
        let before = parent.as_ref().and_then(|p| p.tables().get(table).cloned());
        if before.as_ref() != Some(&sid) {
            out.push(Version {
                snapshot: lake.snapshot(&sid).await?,
                commit: cur.clone(),
            });
            if out.len() == HISTORY {
                break;
            }
        }
        match (parent, before) {
            (Some(p), Some(s)) => {
                cur = p;
                sid = s;
            }
            _ => break,
        }
    }
    out.reverse();
    Ok(out)
}

/// The table's versions described one after the other, oldest first: what each
/// needs of the ones before it.
struct Chain<'a> {
    lake: &'a Lake,
    table: &'a str,
    root: &'a str,
    /// Parquet footers read so far (a file is in many versions).
    footers: HashMap<String, Arc<ParquetMetaData>>,
    /// The previous version's files: the snapshot id and sequence number that added each.
    added_by: HashMap<String, (i64, i64)>,
    parent: Option<i64>,
    time_ms: i64,
}

impl Chain<'_> {
    /// The Iceberg snapshot of version `v` (sequence number `sequence`), its manifest
    /// and manifest list written unless they exist; and the key they are named by.
    async fn describe(
        &mut self,
        v: &Version,
        sequence: i64,
        schema: &SchemaRef,
        schema_id: i32,
    ) -> Result<(Snapshot, String)> {
        let snapshot_id = snapshot_id(&v.commit.id, self.table);
        // Iceberg wants snapshot times in order; commits made on machines whose
        // clocks disagree may not be.
        self.time_ms = self.time_ms.max(v.commit.content.time_ms);
        let files = &v.snapshot.content.files;
        let owners: HashMap<String, (i64, i64)> = files
            .iter()
            .map(|f| {
                let owner = self.added_by.get(&f.path).copied();
                (f.path.clone(), owner.unwrap_or((snapshot_id, sequence)))
            })
            .collect();
        let key = hash(&serde_json::json!({
            "format": "sluice-iceberg/1",
            "table": self.table,
            "lake_snapshot": v.snapshot.id,
            "schema": **schema,
            "files": files.iter().map(|f| (&f.path, owners[&f.path])).collect::<Vec<_>>(),
            "snapshot_id": snapshot_id,
            "sequence": sequence,
            "parent": self.parent,
        }));
        let dir = format!("{PREFIX}/{}", v.snapshot.id.as_str());
        let list_path = format!("{dir}/snap-{key}.avro");
        let store = self.lake.data();
        if !store.exists(&list_path).await? {
            let manifest_path = format!("{dir}/{key}-m0.avro");
            let manifest = self
                .write_manifest(&manifest_path, files, &owners, schema, snapshot_id)
                .await?;
            write_manifest_list(
                store,
                &list_path,
                manifest,
                snapshot_id,
                self.parent,
                sequence,
            )
            .await?;
        }
        let removed = self.added_by.keys().any(|p| !owners.contains_key(p));
        let added = owners.values().filter(|o| o.0 == snapshot_id).count();
        let content = &v.snapshot.content;
        let summary = Summary {
            operation: if removed {
                Operation::Overwrite
            } else {
                Operation::Append
            },
            additional_properties: HashMap::from([
                ("added-data-files".into(), added.to_string()),
                ("total-data-files".into(), files.len().to_string()),
                ("total-records".into(), content.rows.to_string()),
                ("total-files-size".into(), content.bytes.to_string()),
                ("total-delete-files".into(), "0".into()),
                ("total-position-deletes".into(), "0".into()),
                ("total-equality-deletes".into(), "0".into()),
                ("sluice.commit".into(), v.commit.id.to_string()),
                ("sluice.message".into(), v.commit.content.message.clone()),
            ]),
        };
        let snapshot = Snapshot::builder()
            .with_snapshot_id(snapshot_id)
            .with_parent_snapshot_id(self.parent)
            .with_sequence_number(sequence)
            .with_timestamp_ms(self.time_ms)
            .with_manifest_list(format!("{}/{list_path}", self.root))
            .with_summary(summary)
            .with_schema_id(schema_id)
            .build();
        self.added_by = owners;
        self.parent = Some(snapshot_id);
        Ok((snapshot, key))
    }

    /// Writes the manifest of one version: every file, `Added` by this snapshot or
    /// `Existing` with the snapshot and sequence number that added it.
    async fn write_manifest(
        &mut self,
        path: &str,
        files: &[LakeFile],
        owners: &HashMap<String, (i64, i64)>,
        schema: &SchemaRef,
        snapshot_id: i64,
    ) -> Result<ManifestFile> {
        let io = FileIO::new_with_memory();
        let scratch = format!("memory://{path}");
        let spec = PartitionSpec::unpartition_spec();
        let mut writer = ManifestWriterBuilder::new(
            io.new_output(&scratch)?,
            Some(snapshot_id),
            schema.clone(),
            spec,
        )
        .build_v2_data();
        for f in files {
            let footer = match self.footers.get(&f.path) {
                Some(m) => m.clone(),
                None => {
                    let m = read_footer(self.lake.data(), self.table, f).await?;
                    self.footers.insert(f.path.clone(), m.clone());
                    m
                }
            };
            let location = format!("{}/{}", self.root, f.path);
            let entry = data_file(location, f, &footer, schema)?;
            let (owner, sequence) = owners[&f.path];
            if owner == snapshot_id {
                writer.add_file(entry, sequence)?;
            } else {
                writer.add_existing_file(entry, owner, sequence, Some(sequence))?;
            }
        }
        let mut manifest = writer.write_manifest_file().await?;
        let bytes = io.new_input(&scratch)?.read().await?;
        self.lake.data().put(path, bytes).await?;
        manifest.manifest_path = format!("{}/{path}", self.root);
        Ok(manifest)
    }
}

async fn write_manifest_list(
    store: &sluice_lake::DataStore,
    path: &str,
    manifest: ManifestFile,
    snapshot_id: i64,
    parent: Option<i64>,
    sequence: i64,
) -> Result<()> {
    let io = FileIO::new_with_memory();
    let scratch = format!("memory://{path}");
    let mut list = ManifestListWriter::v2(
        io.new_output(&scratch)?.writer().await?,
        snapshot_id,
        parent,
        sequence,
    );
    list.add_manifests(std::iter::once(manifest))?;
    list.close().await?;
    store
        .put(path, io.new_input(&scratch)?.read().await?)
        .await?;
    Ok(())
}

/// The table metadata: every version a snapshot, the last one current (on the
/// table's `main`), the schemas with the lake's field ids, unpartitioned and
/// unsorted, and the name mapping readers need for files without field ids.
fn build_metadata(
    lake: &Lake,
    table: &str,
    commit: &Commit,
    root: &str,
    schemas: &[SchemaRef],
    current_schema: &SchemaRef,
    snapshots: Vec<Snapshot>,
) -> Result<TableMetadata> {
    let mapping = serde_json::to_string(&name_mapping(current_schema))
        .map_err(|e| IcebergError::Internal(format!("name mapping: {e}")))?;
    let properties = HashMap::from([
        ("schema.name-mapping.default".to_string(), mapping),
        ("sluice.commit".to_string(), commit.id.to_string()),
        ("sluice.table".to_string(), table.to_string()),
    ]);
    // `new` re-numbers its schema's field ids: give it a placeholder no lake
    // schema can equal (so each of ours gets the next schema id, 1, 2, ...), and
    // drop it once ours are in.
    let placeholder = Schema::builder()
        .with_fields([Arc::new(NestedField::optional(
            1,
            "\u{0}sluice placeholder",
            Type::Primitive(PrimitiveType::Boolean),
        ))])
        .build()?;
    let mut builder = TableMetadataBuilder::new(
        placeholder,
        PartitionSpec::unpartition_spec(),
        SortOrder::unsorted_order(),
        format!("{root}/tables/{table}"),
        FormatVersion::V2,
        properties,
    )?
    .assign_uuid(table_uuid(lake, table));
    for s in schemas {
        builder = builder.add_schema((**s).clone())?;
    }
    let current_id = schemas
        .iter()
        .position(|s| Arc::ptr_eq(s, current_schema))
        .map_or(1, |i| i as i32 + 1);
    builder = builder.set_current_schema(current_id)?;
    let last = snapshots.len().saturating_sub(1);
    for (i, s) in snapshots.into_iter().enumerate() {
        builder = if i == last {
            builder.set_branch_snapshot(s, "main")?
        } else {
            builder.add_snapshot(s)?
        };
    }
    let built = builder.remove_schemas(&[0])?.build()?;
    Ok(built.metadata)
}

/// The table's Iceberg UUID: the same for a table name in a lake, whatever the
/// ref (they are versions of one table).
fn table_uuid(lake: &Lake, table: &str) -> uuid::Uuid {
    let digest = Sha256::digest(format!("sluice-table\0{}\0{table}", lake.data().uri()));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The Iceberg snapshot id of the version of `table` made by `commit`: positive
/// and the same wherever that version is read from.
fn snapshot_id(commit: &CommitId, table: &str) -> i64 {
    let digest = Sha256::digest(format!("{}\0{table}", commit.as_str()));
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    (i64::from_be_bytes(bytes) & i64::MAX).max(1)
}

fn hash(value: &serde_json::Value) -> String {
    let digest = Sha256::digest(value.to_string());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The URI of the data store's root, which Iceberg locations start with.
pub fn data_root(store: &sluice_lake::DataStore) -> String {
    let uri = store.uri().trim_end_matches('/');
    if store.is_local() {
        format!("file://{uri}")
    } else {
        uri.to_string()
    }
}
