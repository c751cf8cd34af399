//! The object stores every cluster process reads the lake's data through.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use object_store::ObjectStore;
use url::Url;

/// DataFusion's registry (`file://` and whatever is registered) that also opens
/// any `s3://BUCKET` on first use, configured from the `AWS_*` environment the way
/// the lake opens its S3 data store. Stores are kept per bucket.
#[derive(Debug, Default)]
pub struct LakeStores {
    known: DefaultObjectStoreRegistry,
}

impl LakeStores {
    /// A runtime environment whose object stores are these, spilling to
    /// `temp_dir` when given.
    pub fn runtime_env(
        self: &Arc<Self>,
        temp_dir: Option<&std::path::Path>,
    ) -> Result<Arc<RuntimeEnv>> {
        let mut builder = RuntimeEnvBuilder::new().with_object_store_registry(self.clone());
        if let Some(dir) = temp_dir {
            builder = builder.with_temp_file_path(dir);
        }
        Ok(Arc::new(builder.build()?))
    }
}

impl ObjectStoreRegistry for LakeStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.known.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match self.known.get_store(url) {
            Ok(store) => Ok(store),
            Err(_) if url.scheme() == "s3" => {
                let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or_else(|| {
                    DataFusionError::Configuration(format!("`{url}` names no S3 bucket"))
                })?;
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                let store: Arc<dyn ObjectStore> = Arc::new(s3);
                // Two first uses at once build two equal clients; either is kept.
                self.known.register_store(url, store.clone());
                Ok(store)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::path::Path;

    #[tokio::test]
    async fn reads_local_files_by_file_url() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"hello").unwrap();
        let stores = LakeStores::default();
        let url = Url::from_file_path(dir.path().join("a.txt")).unwrap();
        let store = stores.get_store(&url).unwrap();
        let bytes = store
            .get(&Path::from_url_path(url.path()).unwrap())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&bytes[..], b"hello");
    }

    #[test]
    fn opens_each_s3_bucket_once_and_refuses_unknown_schemes() {
        let stores = LakeStores::default();
        let a = stores
            .get_store(&Url::parse("s3://bucket-a/x/y.parquet").unwrap())
            .unwrap();
        let again = stores
            .get_store(&Url::parse("s3://bucket-a/z.parquet").unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        let b = stores
            .get_store(&Url::parse("s3://bucket-b/x").unwrap())
            .unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        assert!(
            stores
                .get_store(&Url::parse("gs://bucket/x").unwrap())
                .is_err()
        );
    }
}
