# nginx from Debian's nginx-light, for the compose test stack (make images;
# docker-compose.yml's JSMCP_NGINX_IMAGE). Like the official nginx image:
# /etc/nginx/nginx.conf mounted by docker-compose.yml, "nginx -g 'daemon off;'",
# logs to the container's stdout/stderr (deploy/nginx.conf says where).
ARG BASE_IMAGE=debian:12-slim
FROM ${BASE_IMAGE}
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       nginx-light >/dev/null \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d /etc/nginx/sites-enabled/* \
    && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
