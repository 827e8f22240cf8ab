"""The local Kubernetes control plane (etcd + kube-apiserver built from Go modules) for tests and the demo."""
