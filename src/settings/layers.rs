//! One layer of options over another: a value given in the upper one wins, field by field.
//!
//! Every option type of [`crate::cli`] is listed here once; a new field that is missing
//! from its list is a compile error, not an option a profile silently cannot set.

use crate::cli::{
    CognitoArgs, EndpointArgs, FilesystemArgs, MountOptions, ProcessArgs, ReadingArgs,
};

/// `over(upper, lower)`: `Option`s and lists from `upper` unless unset or empty, switches
/// on when on in either.
macro_rules! layered {
    ($t:ident { options: [$($o:ident),*], switches: [$($s:ident),*], lists: [$($l:ident),*] }) => {
        impl $t {
            /// These values over `lower`'s.
            pub fn over(self, lower: $t) -> $t {
                $t {
                    $($o: self.$o.or(lower.$o),)*
                    $($s: self.$s || lower.$s,)*
                    $($l: if self.$l.is_empty() { lower.$l } else { self.$l },)*
                }
            }
        }
    };
}

layered!(CognitoArgs {
    options: [
        region,
        user_pool_id,
        client_id,
        identity_pool_id,
        username,
        password_file,
        client_secret_file,
        auth_flow,
        mfa_code_command,
        first_factor,
        mfa_type,
        new_password_file,
        role_arn,
        identity_flow,
        session_duration
    ],
    switches: [password_stdin],
    lists: []
});

layered!(EndpointArgs {
    options: [endpoint_url],
    switches: [force_path_style],
    lists: []
});

layered!(FilesystemArgs {
    options: [
        metadata_ttl,
        request_timeout,
        negative_ttl,
        max_cached_entries,
        uid,
        gid,
        file_mode,
        dir_mode
    ],
    switches: [allow_other, xattrs],
    lists: [buckets]
});

layered!(ReadingArgs {
    options: [
        max_memory,
        kernel_readahead,
        part_size,
        read_parallel,
        random_readahead,
        whole_object_below,
        small_files_ahead
    ],
    switches: [no_page_cache_push],
    lists: []
});

layered!(ProcessArgs {
    options: [log_file, stats_file],
    switches: [foreground, debug],
    lists: []
});

impl MountOptions {
    /// These options over `lower`'s, group by group.
    pub fn over(self, lower: MountOptions) -> MountOptions {
        MountOptions {
            cognito: self.cognito.over(lower.cognito),
            endpoint: self.endpoint.over(lower.endpoint),
            filesystem: self.filesystem.over(lower.filesystem),
            reading: self.reading.over(lower.reading),
            process: self.process.over(lower.process),
        }
    }
}
