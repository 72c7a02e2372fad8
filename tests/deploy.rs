//! What can be checked of deploy/ without a container engine: the image's build inputs exist,
//! the settings the image and the manifests give are valid, the ConfigMap carries the shipped
//! rules, and the health-check command works. `.ci/run` also validates the manifests against
//! the Kubernetes schemas (kubernetes-validate, strict).

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &str) -> String {
    std::fs::read_to_string(root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn dockerfile_build_inputs_exist() {
    let dockerfile = read("deploy/Dockerfile");
    let mut copies = 0;
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from="))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(
                root().join(src).exists(),
                "Dockerfile copies {src}, which does not exist"
            );
            copies += 1;
        }
    }
    assert!(copies >= 5, "{copies}");
    for needed in [
        "USER 10001",
        "HEALTHCHECK",
        "AS build",
        "FROM debian:bookworm-slim",
    ] {
        assert!(dockerfile.contains(needed), "{needed}");
    }
}

fn env_from(text: &str, prefix: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().trim_start_matches("ENV ").split_once('='))
        .filter(|(k, _)| k.trim().starts_with(prefix))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_end_matches('\\').trim().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_image_settings_are_valid() {
    let dockerfile = read("deploy/Dockerfile");
    let env = env_from(
        &dockerfile.replace("    CHANGEGATE__", "ENV CHANGEGATE__"),
        "CHANGEGATE__",
    );
    assert!(env.len() >= 4, "{env:?}");
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("c.toml");
    std::fs::write(&empty, "").unwrap();
    let settings = changegate::settings::Settings::load_from(Some(&empty), env)
        .expect("the image's settings load");
    assert_eq!(settings.server.listen, "0.0.0.0:8080");
    assert!(settings.log.json);
}

#[test]
fn the_manifests_name_real_settings_and_carry_the_rules() {
    let deployment = read("deploy/kubernetes/deployment.yaml");
    let dir = tempfile::tempdir().unwrap();
    let mut env = vec![];
    let mut name = None;
    for line in deployment.lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("- name: CHANGEGATE__") {
            name = Some(format!("CHANGEGATE__{n}"));
        } else if let (Some(n), Some(v)) = (&name, line.strip_prefix("value: ")) {
            let v = v.trim_matches('"').to_string();
            // Secret files are mounted by Kubernetes; stand-ins here.
            let v = if n.ends_with("_FILE") {
                let f = dir.path().join(n);
                std::fs::write(&f, "stand-in\n").unwrap();
                f.display().to_string()
            } else {
                v
            };
            env.push((n.clone(), v));
            name = None;
        }
    }
    assert!(
        env.iter()
            .any(|(k, _)| k == "CHANGEGATE__GITHUB__WEBHOOK_SECRET_FILE"),
        "{env:?}"
    );
    let empty = dir.path().join("c.toml");
    std::fs::write(&empty, "").unwrap();
    let settings = changegate::settings::Settings::load_from(Some(&empty), env)
        .expect("the Deployment's settings load");
    assert_eq!(settings.github.webhook_secret.len(), 1);
    assert!(
        deployment.contains("replicas: 2") && deployment.contains("readOnlyRootFilesystem: true")
    );

    let configmap = read("deploy/kubernetes/configmap.yaml");
    let embedded: String = configmap
        .split_once("rules.yaml: |\n")
        .expect("rules.yaml key")
        .1
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        embedded.trim_end(),
        read("rules.yaml").trim_end(),
        "deploy/kubernetes/configmap.yaml is out of date with rules.yaml"
    );
}

#[test]
fn the_systemd_unit_is_hardened_and_reloads_with_sighup() {
    let unit = read("deploy/systemd/changegate.service");
    for needed in [
        "ExecStart=/usr/local/bin/changegate --config /etc/changegate/changegate.toml serve",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "User=changegate",
    ] {
        assert!(unit.contains(needed), "{needed}");
    }
}

#[test]
fn the_health_check_command_fails_when_nothing_answers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let status = Command::new(env!("CARGO_BIN_EXE_changegate"))
        .args(["probe", &format!("http://127.0.0.1:{port}/healthz")])
        .status()
        .unwrap();
    assert!(!status.success());
}

#[test]
fn the_deployment_is_reachable_kept_available_and_names_its_registry() {
    let deployment = read("deploy/kubernetes/deployment.yaml");
    for needed in [
        "CHANGEGATE__SERVER__PUBLIC_URL",
        "CHANGEGATE__SERVER__AUDIT_TOKEN_FILE",
        "image: REGISTRY.example.com/changegate:",
    ] {
        assert!(deployment.contains(needed), "{needed}");
    }
    let ingress = read("deploy/kubernetes/ingress.yaml");
    assert!(ingress.contains("kind: Ingress") && ingress.contains("secretName: changegate-tls"));
    assert!(
        !ingress.contains("path: /metrics") && !ingress.contains("path: /\n"),
        "metrics stay inside the cluster"
    );
    let pdb = read("deploy/kubernetes/pdb.yaml");
    assert!(pdb.contains("kind: PodDisruptionBudget") && pdb.contains("minAvailable: 1"));
    let kustomization = read("deploy/kubernetes/kustomization.yaml");
    assert!(kustomization.contains("pdb.yaml") && kustomization.contains("ingress.yaml"));
    assert!(read("deploy/kubernetes/postgres.example.yaml").contains("kind: StatefulSet"));
    let ignore = read(".dockerignore");
    assert!(ignore.lines().any(|l| l == "target/") && ignore.lines().any(|l| l == ".git/"));
}

#[test]
fn the_example_secret_is_refused_until_filled_in() {
    let secret = read("deploy/kubernetes/secret.example.yaml");
    let dir = tempfile::tempdir().unwrap();
    let mut env = vec![];
    for (key, setting) in [
        ("github-token", "CHANGEGATE__GITHUB__TOKEN_FILE"),
        (
            "github-webhook-secrets",
            "CHANGEGATE__GITHUB__WEBHOOK_SECRET_FILE",
        ),
        ("audit-token", "CHANGEGATE__SERVER__AUDIT_TOKEN_FILE"),
    ] {
        let value = secret
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("{key} missing"));
        let file = dir.path().join(key);
        std::fs::write(&file, value).unwrap();
        env.push((setting.to_string(), file.display().to_string()));
    }
    let empty = dir.path().join("c.toml");
    std::fs::write(&empty, "").unwrap();
    let settings = changegate::settings::Settings::load_from(Some(&empty), env).unwrap();
    let refusal = settings.placeholder_refusal().expect("refused");
    assert!(refusal.contains("github.token") && refusal.contains("server.audit_token"));
    let compose = read("deploy/docker-compose.yml");
    assert!(!compose.to_lowercase().contains("change-me"), "{compose}");
}

#[test]
fn the_systemd_user_comes_from_sysusers_and_the_docs_are_real() {
    let unit = read("deploy/systemd/changegate.service");
    assert!(unit.contains("Documentation=file:/usr/local/share/doc/changegate/README.md"));
    assert!(!unit.contains("example.invalid"));
    let sysusers = read("deploy/systemd/changegate.sysusers.conf");
    assert!(sysusers.contains("u changegate - "), "{sysusers}");
}
