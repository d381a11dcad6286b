import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.webapp.WebAppContext;

/**
 * Runs one war as the root webapp of an embedded Jetty 9 (Debian's libjetty9-java, in the jvm
 * stack) on $PORT. The java buildpack starts it in single-file source mode
 * (`java -cp <jetty jars> WarLauncher.java app.war`), so the droplet needs no compiled launcher.
 * Jetty's annotation scanning is not in libjetty9-java: servlets must be declared in web.xml.
 */
public class WarLauncher {
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: WarLauncher.java APP.war");
            System.exit(2);
        }
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
        Server server = new Server(port);
        WebAppContext app = new WebAppContext();
        app.setContextPath("/");
        app.setWar(args[0]);
        // Unpack below the app, not in /tmp: the instance owns its directory, and a crash leaves
        // nothing behind elsewhere.
        java.io.File work = new java.io.File(".java-buildpack/work");
        work.mkdirs();
        app.setTempDirectory(work);
        // A war that fails to deploy must stop the instance, not leave a server answering 503.
        app.setThrowUnavailableOnStartupException(true);
        server.setHandler(app);
        server.setStopAtShutdown(true);
        server.start();
        System.out.println("jetty " + Server.getVersion() + " serving " + args[0] + " on port " + port);
        server.join();
    }
}
