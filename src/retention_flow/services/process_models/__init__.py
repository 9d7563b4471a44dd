"""Process models as process owners handle them: bundles as received, deploying and
reading versions, editing and comparing them before a deploy."""
