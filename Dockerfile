# graphjob's image: the static graphjob binary on distroless, as non-root.
#   make image                      # or:
#   docker build --build-arg VERSION=v0.1.0 -t ghcr.io/graphjob/graphjob:v0.1.0 .
# Graphs whose exec nodes run commands (sh, python, …) need those commands in
# the image: build yours FROM this one, or copy /graphjob into yours.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# The same flags as `make build`, which e2e runs.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/graphjob ./cmd/graphjob

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/graphjob /graphjob
# distroless's nonroot user; the Jobs graphjob makes run as it too.
USER 65532:65532
ENTRYPOINT ["/graphjob"]
