# The c runtime: compile every .c file at the top of the function folder
# (fn.c defines tinyfaas_fn) and link it statically with libtinyfaas-c.a,
# which holds main(); then ship the handler alone, FROM scratch.
FROM @BUILDER@ AS build
@LABELS@
COPY fn/ /src/
WORKDIR /src
# 2>&1: gcc's messages belong in the build stream the deployer sees. An
# undeclared function is an error, not a warning: statically linked it would
# fail at link time anyway, with a far less helpful message.
RUN gcc -O2 -Wall -Werror=implicit-function-declaration -static -s -I/opt/tinyfaas \
        -o /handler *.c /opt/tinyfaas/libtinyfaas-c.a -lmsgpackc -lpthread -lm 2>&1

FROM scratch
@LABELS@
COPY --from=build /handler /handler
COPY fn/ /fn/
WORKDIR /fn
ENTRYPOINT ["/handler"]
